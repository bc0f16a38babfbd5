"""The thin ``bpy`` layer: preferences, operators, panel, import, batch driver."""
