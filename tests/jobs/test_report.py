"""What a send report says of rejected rows: not delivered, not kept for a retry."""

from napari_ezp2p.jobs.report import Row, SendReport
from napari_ezp2p.outbox import FAILED, REJECTED, SENT

REASON = "pacs accepted no presentation context for Color Palette Storage"


def _report() -> SendReport:
    return SendReport(
        rows=[
            Row("palette.dcm", "pacs", REJECTED, REASON, 1, "1.1"),
            Row("a.dcm", "pacs", SENT, "", 2, "1.2"),
            Row("b.dcm", "pacs", FAILED, "0xA700 Refused: Out of Resources", 3, "1.3"),
        ]
    )


def test_a_rejected_row_is_neither_delivered_nor_kept():
    rejected, sent, failed = _report().rows
    assert (rejected.delivered, rejected.kept, rejected.rejected) == (False, False, True)
    assert (failed.delivered, failed.kept, failed.rejected) == (False, True, False)
    assert sent.delivered and not sent.rejected


def test_the_lines_and_the_headline_say_rejected_with_the_reason():
    report = _report()
    assert not report.ok
    assert report.lines() == ["pacs: 1 sent, 1 rejected, 1 not sent (1 kept in the outbox)"]
    assert report.reasons() == [
        f"palette.dcm to pacs: rejected: {REASON}",
        "b.dcm to pacs: 0xA700 Refused: Out of Resources",
    ]
    headline = report.headline()
    assert headline.startswith(
        "2 of 3 images not sent (1 kept in the outbox: use Retry failed; 1 rejected): "
    )
    assert f"rejected: {REASON}" in headline


def test_only_rejected_rows():
    report = SendReport(rows=[Row("palette.dcm", "pacs", REJECTED, REASON, 1, "1.1")])
    assert report.lines() == ["pacs: 0 sent, 1 rejected"]
    assert report.headline() == (
        f"1 of 1 images not sent (1 rejected): palette.dcm to pacs: rejected: {REASON}"
    )
