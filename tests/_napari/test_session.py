from datetime import datetime

import numpy as np

from napari_ezp2p._napari.session import layer_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax


def test_a_layer_carries_its_own_image_fields_but_not_the_study():
    metadata = {
        "ezp2p": {
            "frame_time_ms": 40.0,
            "conversion_type": "DV",
            "patient_name": "NOT^THIS",
        }
    }
    clip = np.zeros((3, 8, 10, 3), np.uint8)
    layer = layer_image(clip, rgb=True, name="clip", metadata=metadata)
    assert layer.overrides == {
        "window": None,
        "rescale": None,
        "frame_time_ms": 40.0,
        "conversion_type": "DV",
    }
    meta = complete_metadata(Metadata(**layer.overrides), datetime.now())
    ds = build_sc(layer.image, meta, transfer_syntax("explicit-le"))
    assert (float(ds.FrameTime), ds.ConversionType, ds.PatientName) == (40.0, "DV", "")
