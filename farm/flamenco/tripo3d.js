// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco 3 custom job type: turn a folder of images into 3D models with
// Tripo3D v2.5 (Pixazo gateway), split into N tasks, one `--shard K/N` each.
// Task K writes OUTPUT/shard-K.blend and OUTPUT/report-K.json.
//
// Install: copy this file into the `scripts/` folder next to the
// flamenco-manager executable and restart the Manager.  The API key is never a
// job setting: each Worker must run with PIXAZO_API_KEY in its environment.
// Untested against a real Flamenco Manager; see farm/README.md.

const JOB_TYPE = {
  label: "Tripo3D Image to 3D",
  description: "Send every image of a folder to Tripo3D v2.5 and import the models, in N parallel shards.",
  settings: [
    { key: "input_folder", type: "string", subtype: "dir_path", required: true, visible: "submission",
      description: "Folder of images (png, jpg, webp, ...), as the Workers see it" },
    { key: "output_folder", type: "string", subtype: "dir_path", required: true, visible: "submission",
      description: "Each task writes shard-K.blend and report-K.json here" },
    { key: "shard_count", type: "int32", default: 4, required: true, visible: "submission",
      description: "Number of tasks; the images are split into this many stable shares" },
    { key: "runner", type: "string", default: "script", choices: ["script", "extension"], visible: "submission",
      description: "script: blender --python generate_script; extension: blender --command tripo3d " +
                   "(the extension installed and enabled for the Worker's user)" },
    { key: "generate_script", type: "string", subtype: "file_path", visible: "submission",
      description: "scripts/generate.py of an add-on checkout on shared storage (runner 'script')" },
    { key: "recursive", type: "bool", default: false, visible: "submission",
      description: "Also take images in sub-folders" },
    { key: "online_mode", type: "bool", default: true, visible: "submission",
      description: "Pass --online-mode (allow network access for the run)" },
    { key: "texture", type: "string", default: "standard", choices: ["no", "standard", "HD"], visible: "submission" },
    { key: "texture_alignment", type: "string", default: "original_image", choices: ["original_image", "geometry"],
      visible: "submission" },
    { key: "orientation", type: "string", default: "default", choices: ["default", "align_image"],
      visible: "submission" },
    { key: "upload", type: "string", default: "auto", visible: "submission",
      description: "How local images reach the gateway: auto, inline, or s3://BUCKET/PREFIX" },
    // Game-ready outputs (docs/pipelines.md); the defaults change nothing.
    { key: "faces", type: "int32", default: 0, visible: "submission",
      description: "Decimate each model to about this many triangles (--faces); 0 keeps them" },
    { key: "texture_size", type: "int32", default: 0, visible: "submission",
      description: "Downscale textures larger than this many pixels (--texture-size); 0 keeps them" },
    { key: "lods", type: "int32", default: 1, visible: "submission",
      description: "Levels of detail NAME_LOD0.. at 100/50/25% of faces (--lods); 1 is none" },
    { key: "export_format", type: "string", default: "none", choices: ["none", "glb", "fbx", "obj", "usd", "stl"],
      visible: "submission", description: "Write one file per image in this format (--export-format)" },
    { key: "export_folder", type: "string", subtype: "dir_path", default: "", visible: "submission",
      description: "Where the exported files go (--export-dir); empty means OUTPUT/export" },
    { key: "apply_transforms", type: "bool", default: false, visible: "submission",
      description: "Apply location, rotation and scale before the export (--apply-transforms)" },
    { key: "post_script", type: "string", subtype: "file_path", default: "", visible: "submission",
      description: "A .py file whose process(objects, info) runs on each model (--post-script)" },
    { key: "extra_params", type: "string", default: "", visible: "submission",
      description: "Extra gateway fields, NAME=VALUE separated by spaces (--param each); the gateway " +
                   "documents three fields and may ignore others" },
  ],
};

// Joins with "/" unless the folder is a Windows path; Flamenco's two-way
// variables may rewrite the folder per platform, the file names stay.
function joinPath(folder, name) {
  const sep = folder.indexOf("\\") >= 0 && folder.indexOf("/") < 0 ? "\\" : "/";
  return folder.replace(/[\\/]+$/, "") + sep + name;
}

function batchArgs(settings, k, n) {
  const out = settings.output_folder;
  const args = [
    settings.input_folder,
    "--shard", k + "/" + n,
    "--out", joinPath(out, "shard-" + k + ".blend"),
    "--report", joinPath(out, "report-" + k + ".json"),
    "--texture", settings.texture || "standard",
    "--texture-alignment", settings.texture_alignment || "original_image",
    "--orientation", settings.orientation || "default",
    "--upload", settings.upload || "auto",
  ];
  if (settings.recursive) args.push("--recursive");
  if (settings.online_mode !== false) args.push("--online-mode");
  return args.concat(gameReadyArgs(settings));
}

// Only what differs from "change nothing" is passed on.
function gameReadyArgs(settings) {
  const args = [];
  if (Number(settings.faces) > 0) args.push("--faces", String(settings.faces));
  if (Number(settings.texture_size) > 0) args.push("--texture-size", String(settings.texture_size));
  if (settings.lods !== undefined && Number(settings.lods) !== 1) args.push("--lods", String(settings.lods));
  if (settings.export_format && settings.export_format !== "none") {
    args.push("--export-format", settings.export_format,
              "--export-dir", settings.export_folder || joinPath(settings.output_folder, "export"));
  }
  if (settings.apply_transforms) args.push("--apply-transforms");
  if (settings.post_script) args.push("--post-script", settings.post_script);
  for (const field of String(settings.extra_params || "").split(/\s+/)) {
    if (field) args.push("--param", field);
  }
  return args;
}

function compileJob(job) {
  const settings = job.settings;
  const n = Number(settings.shard_count);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw "shard_count must be a whole number from 1 to 1000, not " + settings.shard_count;
  }
  const runner = settings.runner || "script";
  if (runner === "script" && !settings.generate_script) {
    throw "generate_script is required when runner is 'script'";
  }
  // The batch command refuses an --out folder that does not exist: Blender
  // runs this first, in order, before the batch starts.
  const mkdir = "import os; os.makedirs(" + JSON.stringify(settings.output_folder) + ", exist_ok=True)";
  for (let k = 1; k <= n; k++) {
    const task = author.Task("tripo3d-shard-" + k + "-of-" + n, "blender");
    // Without --python-exit-code, an exception in a script ends Blender with 0
    // and the task would count as done.
    let lead = ["--python-exit-code", "1", "--python-expr", mkdir];
    if (runner === "extension") {
      lead = lead.concat(["--command", "tripo3d"]);
    } else {
      lead = lead.concat(["--python", settings.generate_script, "--"]);
    }
    // {exe} {exeArgs} {argsBefore} {blendfile} {args}: no blend file is opened,
    // the batch starts from an empty scene; {blenderArgs} is "-b -y" by default.
    task.addCommand(author.Command("blender-render", {
      exe: "{blender}",
      exeArgs: "{blenderArgs}",
      argsBefore: [],
      args: lead.concat(batchArgs(settings, k, n)),
    }));
    job.addTask(task);
  }
}
