// Validates the API's OpenAPI document strictly with @apidevtools/swagger-parser
// (its JSON Schema for OpenAPI 3.0 plus its own checks), independently of the
// Go tests' kin-openapi. Usage: node validate.mjs [file]; the default is the
// document the API serves. Exits 1 with the error when the document is invalid.
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2] ?? fileURLToPath(new URL("../../internal/httpapi/openapi.yaml", import.meta.url));
try {
  const api = await SwaggerParser.validate(file);
  console.log(`openapi: ${file} is valid OpenAPI ${api.openapi} (${Object.keys(api.paths).length} paths)`);
} catch (err) {
  console.error(`openapi: ${file} is NOT valid OpenAPI:\n${err.message}`);
  process.exit(1);
}
