#:project ../../src/Smtpd.Catcher/Smtpd.Catcher.csproj
#:property TreatWarningsAsErrors=false
#:property EnableNETAnalyzers=false
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Smtpd;
using Smtpd.Catcher;

var backend = args[0];
int clients = 8, perClient = int.Parse(args.Length > 2 ? args[2] : "250");
var options = new CatcherOptions { Retain = 0 };
options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
if (backend == "sqlite") options.DatabasePath = Path.Combine(Directory.CreateTempSubdirectory().FullName, "s.db");
else options.DatabaseConnectionString = args[1];
await using var catcher = new MailCatcher(options);
catcher.Start();
var ep = catcher.Listeners[0].EndPoint;
var body = "Subject: bench\r\nFrom: a@example.com\r\nTo: b@example.com\r\n\r\n" + string.Concat(Enumerable.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 30)) + ".\r\n";
async Task Client()
{
    using var tcp = new TcpClient();
    await tcp.ConnectAsync(ep);
    using var s = tcp.GetStream();
    var r = new StreamReader(s, Encoding.ASCII);
    async Task<string> Reply() { string l; do { l = (await r.ReadLineAsync())!; } while (l.Length > 3 && l[3] == '-'); return l; }
    async Task Cmd(string c, char expect) { await s.WriteAsync(Encoding.ASCII.GetBytes(c + "\r\n")); var l = await Reply(); if (l[0] != expect) throw new Exception(c + " -> " + l); }
    await Reply(); await Cmd("EHLO bench", '2');
    for (var i = 0; i < perClient; i++) { await Cmd("MAIL FROM:<a@example.com>", '2'); await Cmd("RCPT TO:<b@example.com>", '2'); await Cmd("DATA", '3'); await s.WriteAsync(Encoding.ASCII.GetBytes(body)); var l = await Reply(); if (l[0] != '2') throw new Exception(l); }
    await Cmd("QUIT", '2');
}
await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Client())); // warm-up
var cpu0 = Process.GetCurrentProcess().TotalProcessorTime; var sw = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Client()));
sw.Stop(); var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
var n = clients * perClient;
Console.WriteLine($"{backend}: {n} msgs in {sw.Elapsed.TotalSeconds:F2}s = {n / sw.Elapsed.TotalSeconds:F0} msgs/s; catcher-process CPU {cpu.TotalMilliseconds / n * 1000:F0} ms per 1000 msgs ({clients} clients, 8 sequential sessions)");
await catcher.StopAsync(TimeSpan.FromSeconds(5));
