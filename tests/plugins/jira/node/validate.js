// Validates ADF documents with Atlassian's runtime validator (@atlaskit/adf-utils/validator).
// stdin: a JSON array of documents; stdout: a JSON array of {"valid": bool, "error": string|null}.
// Used without an error callback on purpose: with one, the validator reports spurious errors
// for valid code+link text (see docs/jira-adf.md).
'use strict';
const flags = require('@atlaskit/platform-feature-flags');
flags.setBooleanFeatureFlagResolver(() => false); // no feature-gate client here: all gates off
const { validator } = require('@atlaskit/adf-utils/validator');

const validate = validator(undefined, undefined, { mode: 'strict' });
const docs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const results = docs.map((doc) => {
  try {
    validate(doc);
    return { valid: true, error: null };
  } catch (e) {
    return { valid: false, error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(results));
