// Drives the spec's JavaScript FileUploadAPI against a local server; prints the answers as JSON.
// Environment: SPEC_BASE_URL, SPEC_API_KEY, SPEC_SOURCE_URL, SPEC_STREAM_TEXT, SPEC_BASE64.
'use strict';
const { FileUploadAPI } = require('./spec_client.js');

async function main() {
  const env = process.env;
  const uploader = new FileUploadAPI(env.SPEC_API_KEY);
  uploader.baseUrl = env.SPEC_BASE_URL;
  const text = env.SPEC_STREAM_TEXT;
  const results = {
    stream: await uploader.uploadFile(
      new File([text], 'hello.txt', { type: 'text/plain' }), 'js/stream', 'from-js.txt'),
    blob: await uploader.uploadFile(new Blob([text]), 'js/blob'),
    url: await uploader.uploadFromUrl(env.SPEC_SOURCE_URL, 'js/url'),
    base64: await uploader.uploadBase64(env.SPEC_BASE64, 'js/base64', 'pixel.png'),
  };
  let refused = null;
  try {
    await uploader.uploadFromUrl(env.SPEC_SOURCE_URL, '');
  } catch (error) {
    refused = error.message;
  }
  process.stdout.write(JSON.stringify({ results, refused }));
}

main().catch((error) => {
  process.stderr.write(`driver failed: ${error.stack || error}\n`);
  process.exit(1);
});
