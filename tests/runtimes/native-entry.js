// native.mjs's bundle entry for workerd and Chromium: every vector through every signature
// path (native-paths.js) of the package as imported by name, the vectors and keys bundled
// in (out/native-data.js). `run()` resolves to the report; in a page it lands in
// window.result, in a worker it is the fetch answer.
import * as base from "tollgate";
import * as full from "tollgate/rsa";
import { comparePaths } from "./native-paths.js";
import data from "./out/native-data.js";

export async function run() {
  const report = await comparePaths({ base, full, keys: data.keys, files: data.files });
  return { ...report, mismatches: report.mismatches.slice(0, 20), differences: report.mismatches.length };
}

export default {
  async fetch() {
    try {
      return Response.json(await run());
    } catch (error) {
      return new Response(String(error?.stack ?? error), { status: 500 });
    }
  },
};

if (typeof document !== "undefined") {
  run().then(
    (result) => {
      window.result = result;
    },
    (error) => {
      window.result = { error: String(error?.stack ?? error) };
    },
  );
}
