// Validates a .glb/.gltf with the Khronos glTF-Validator (npm `gltf-validator`, installed by
// scripts/setup.sh into .venv/node). Prints {"errors", "warnings", "messages"} as JSON.
//
//     node tools/validate_gltf.mjs FILE.glb
import { createRequire } from 'module';
import fs from 'fs';

const require = createRequire(new URL('../.venv/node/', import.meta.url));
const validator = require('gltf-validator');
const data = new Uint8Array(fs.readFileSync(process.argv[2]));
const report = await validator.validateBytes(data);
console.log(JSON.stringify({
  errors: report.issues.numErrors,
  warnings: report.issues.numWarnings,
  messages: report.issues.messages.slice(0, 100),
}));
