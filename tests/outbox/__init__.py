"""Tests of the outbox and its runner."""
