"""Where and how a model lands in the scene: the import's options, apart from
the importer so that registering the add-on does not load the importer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportOptions:
    """Where and how a model lands in the scene."""

    at_cursor: bool = True
    rest_on_ground: bool = True  # origin at the base, base on the ground
    normalize_size: float = 0.0  # largest dimension in metres; 0 keeps the size
    collection: str = ""  # parent collection for the new one; "" = the scene's
    #: "CURSOR": exactly at the target point; "FREE": beside the selection, else
    #: at the first spot near the target where no other object is (never hidden inside one).
    placement: str = "CURSOR"
    frame_view: bool = False  # zoom the 3D Viewports onto the model (the panel turns it on)
    mark_asset: bool = False  # mark the top object as an asset, so it shows in the Asset Browser
    keep_paths: bool = False  # provenance names the picture's and the model's full paths, not only their names
    #: The panel's Optimise subpanel, applied on import as a modifier the artist can tweak:
    #: {"faces": N, "texture_size": PX, "lods": K}; empty changes nothing.
    optimise: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ImportOptions":
        data = data or {}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
