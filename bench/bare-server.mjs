// The reference of `npm run bench:app`: bare node:http answering fixed bodies, in a plain `node` process
// (no tsx, no framework, no metrics). The parent sends { route: { type, body (base64) } } on the IPC
// channel and gets back { port } once this server listens on 127.0.0.1.
import { Buffer } from "node:buffer";
import * as http from "node:http";
import process from "node:process";

process.on("disconnect", () => process.exit(0));
process.once("message", (bodies) => {
  const routes = new Map(
    Object.entries(bodies).map(([route, { type, body }]) => {
      const bytes = Buffer.from(body, "base64");
      return [route, { "content-type": type, "content-length": bytes.length, bytes }];
    }),
  );
  const server = http.createServer((req, res) => {
    const hit = routes.get(req.url ?? "");
    if (!hit) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { "content-type": hit["content-type"], "content-length": hit["content-length"] })
      .end(hit.bytes);
  });
  server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
});
