"""_napari"""
