// Node smtp-server as a sink on 127.0.0.1:PORT: no auth, no TLS, content consumed and discarded.
const { SMTPServer } = require("smtp-server");
const port = Number(process.argv[2]);
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ["STARTTLS", "AUTH"],
  size: 64 * 1024 * 1024,
  logger: false,
  maxClients: 20000,
  onData(stream, session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => callback());
  },
});
server.listen(port, "127.0.0.1", () => console.log(`listening 127.0.0.1:${port}`));
