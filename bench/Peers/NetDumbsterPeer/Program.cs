// netDumbster 3.1.1 on PORT; it keeps every message in memory, as in normal use.
using System.Globalization;
using netDumbster.smtp;

var port = int.Parse(args[0], CultureInfo.InvariantCulture);
var server = SimpleSmtpServer.Start(port);
Console.WriteLine($"listening {port}");
await Task.Delay(Timeout.Infinite);
GC.KeepAlive(server);
