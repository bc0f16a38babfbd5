"""The panel's settings (a PropertyGroup on the scene) and what they point at."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ...core.placement_options import ImportOptions
from ...core.choices import ALIGNMENT_ITEMS, CUSTOM, ORIENTATION_ITEMS, SOURCE_ITEMS, TEXTURE_ITEMS

PLACEMENT_ITEMS = [
    ("FREE", "Beside the Selection",
     "Beside the selected objects, else at a free spot near the 3D cursor, so nothing hides the model"),
    ("CURSOR", "At the 3D Cursor", "Exactly at the 3D cursor, even inside other objects"),
]
TEXTURE_SIZE_ITEMS = [("0", "Keep", "Keep the textures as they came")] + [
    (str(px), f"{px} px", f"Scale textures larger than {px} pixels down to {px}") for px in (4096, 2048, 1024, 512, 256)]
EXPORT_FORMAT_ITEMS = [("glb", "glTF Binary (.glb)", ""), ("fbx", "FBX (.fbx)", ""), ("obj", "Wavefront (.obj)", ""),
                       ("usd", "Universal Scene Description (.usd)", ""), ("stl", "STL (.stl)", "")]


class TRIPO3D_PG_settings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="EDITOR")  # type: ignore[valid-type]
    image: PointerProperty(name="Image", type=bpy.types.Image)  # type: ignore[valid-type]
    filepath: StringProperty(name="File", subtype="FILE_PATH")  # type: ignore[valid-type]
    url: StringProperty(name="URL", description="A public http(s) image address")  # type: ignore[valid-type]
    texture: EnumProperty(name="Texture", items=TEXTURE_ITEMS, default="standard")  # type: ignore[valid-type]
    texture_other: StringProperty(name="Texture Value")  # type: ignore[valid-type]
    texture_alignment: EnumProperty(name="Alignment", items=ALIGNMENT_ITEMS, default="original_image",  # type: ignore[valid-type]
                                    description="Texture alignment")
    texture_alignment_other: StringProperty(name="Alignment Value")  # type: ignore[valid-type]
    orientation: EnumProperty(name="Facing", items=ORIENTATION_ITEMS, default="default",  # type: ignore[valid-type]
                              description="Orientation of the model")
    orientation_other: StringProperty(name="Orientation Value")  # type: ignore[valid-type]
    at_cursor: BoolProperty(name="At 3D Cursor", default=True,  # type: ignore[valid-type]
                            description="Place the model at the 3D cursor (off: at the world origin)")
    placement: EnumProperty(name="Place", items=PLACEMENT_ITEMS, default="FREE")  # type: ignore[valid-type]
    frame_view: BoolProperty(name="Frame in View", default=True,  # type: ignore[valid-type]
                             description="Zoom the 3D Viewport onto the model once it is imported")
    mark_asset: BoolProperty(name="Mark as Asset", default=False,  # type: ignore[valid-type]
                             description="Mark the model as an asset, with a preview, for the Asset Browser")
    rest_on_ground: BoolProperty(name="Rest on Ground", default=True,  # type: ignore[valid-type]
                                 description="Put the origin at the model's base and the base on the ground")
    normalize: BoolProperty(name="Normalize Size", default=False,  # type: ignore[valid-type]
                            description="Scale the model so its largest side has this length")
    size: FloatProperty(name="Size", default=1.0, min=0.001, unit="LENGTH")  # type: ignore[valid-type]
    collection: PointerProperty(name="Collection", type=bpy.types.Collection,  # type: ignore[valid-type]
                                description="Parent collection for the models (empty: the scene's)")
    optimise: BoolProperty(name="Optimise on Import", default=False,  # type: ignore[valid-type]
                           description="Reduce each imported model with a Decimate modifier you can tweak, scale its "
                                       "textures down and make levels of detail")
    faces: IntProperty(name="Faces", default=5000, min=4, soft_max=200_000,  # type: ignore[valid-type]
                       description="About this many triangles for the model (LOD0)")
    texture_size: EnumProperty(name="Textures", items=TEXTURE_SIZE_ITEMS, default="0",  # type: ignore[valid-type]
                               description="Largest texture edge")
    lods: IntProperty(name="LODs", default=1, min=1, max=8,  # type: ignore[valid-type]
                      description="Levels of detail NAME_LOD0.. at 100/50/25% of the faces, then halving (1: none)")
    export_format: EnumProperty(name="Format", items=EXPORT_FORMAT_ITEMS, default="fbx",  # type: ignore[valid-type]
                                description="The file format Export writes")
    export_dir: StringProperty(name="Export Folder", subtype="DIR_PATH", default="//",  # type: ignore[valid-type]
                               description="Where Export proposes to write (// is the .blend's folder)")


# Plain functions, not methods: PyPI bpy 4.2 crashes at Python's exit (SIGSEGV)
# once a PropertyGroup with any method has been registered, even if unregistered.
def chosen_params(s: TRIPO3D_PG_settings) -> dict:
    def pick(value: str, other: str) -> str:
        return other.strip() if value == CUSTOM else value

    return {
        "texture": pick(s.texture, s.texture_other),
        "texture_alignment": pick(s.texture_alignment, s.texture_alignment_other),
        "orientation": pick(s.orientation, s.orientation_other),
    }


def chosen_import_options(s: TRIPO3D_PG_settings) -> ImportOptions:
    return ImportOptions(
        at_cursor=s.at_cursor, rest_on_ground=s.rest_on_ground,
        normalize_size=s.size if s.normalize else 0.0,
        collection=s.collection.name if s.collection else "",
        placement=s.placement, frame_view=s.frame_view, mark_asset=s.mark_asset,
        optimise=chosen_optimise(s),
    )


def chosen_optimise(s: TRIPO3D_PG_settings) -> dict:
    """The Optimise subpanel's choice, as ``ImportOptions.optimise`` keeps it."""
    if not s.optimise:
        return {}
    return {"faces": s.faces, "texture_size": int(s.texture_size), "lods": s.lods}


def panel_settings(context) -> TRIPO3D_PG_settings:
    return context.scene.tripo3d


def editor_image(context):
    """The image in front of the user: the Image Editor's, else the one picked."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    for window in context.window_manager.windows if context.window_manager else []:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
                return area.spaces.active.image
    return panel_settings(context).image


def chosen_source(context) -> tuple[str, object]:
    """(kind, value): the image datablock, file path or URL the panel points at."""
    s = panel_settings(context)
    if s.source == "EDITOR":
        return "image", editor_image(context)
    if s.source == "IMAGE":
        return "image", s.image
    if s.source == "FILE":
        return "path", bpy.path.abspath(s.filepath) if s.filepath else ""
    return "url", s.url.strip()


def panel_request(context, source: str = "", params: dict | None = None) -> tuple[str, object, dict, ImportOptions]:
    """What Generate is asked for: (a source, or "" with an image datablock,
    the options to send, where the model lands), from the panel unless
    ``source`` or ``params`` say otherwise. Raises BadImage when the panel
    points at nothing."""
    from ...core.errors import BadImage

    s = panel_settings(context)
    merged = chosen_params(s)
    merged.update({k: v for k, v in (params or {}).items() if v})
    image = None
    if not source:
        kind, value = chosen_source(context)
        if kind == "image":
            if value is None:
                raise BadImage("No image is selected; open one in the Image Editor or pick one in the panel.")
            image = value
        elif not value:
            raise BadImage("No image file or URL is given; fill in the field above Generate.")
        else:
            source = value
    return source, image, merged, chosen_import_options(s)


def register() -> None:
    bpy.utils.register_class(TRIPO3D_PG_settings)
    bpy.types.Scene.tripo3d = PointerProperty(type=TRIPO3D_PG_settings)


def unregister() -> None:
    del bpy.types.Scene.tripo3d
    bpy.utils.unregister_class(TRIPO3D_PG_settings)
