using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Bench.Soak;

/// <summary>The library under soak: real options, STARTTLS, a delivery that hashes the exact octets into a ledger.</summary>
internal static class Host
{
    public static async Task<int> RunAsync(int port, string ledgerPath)
    {
        using var ledger = new StreamWriter(ledgerPath, append: false) { AutoFlush = true };
        var gate = new Lock();
        var options = new SmtpServerOptions
        {
            ServerName = "soak.local",
            MaxMessageSize = 16L * 1024 * 1024,
            MaxSessions = 2000,
            MaxSessionsPerClient = 2000,
            CommandTimeout = TimeSpan.FromSeconds(60),
            DataTimeout = TimeSpan.FromSeconds(60),
            ServerCertificate = SelfSigned(),
            Deliver = async (message, ct) =>
            {
                await using var stream = message.OpenRead();
                var hash = await SHA256.HashDataAsync(stream, ct);
                lock (gate)
                {
                    ledger.WriteLine($"{Convert.ToHexStringLower(hash)} {message.Size}");
                }

                return SmtpVerdict.Accept;
            },
        };
        await using var server = new SmtpServer(options);
        server.Start(IPAddress.Loopback, port);
        Console.WriteLine($"listening {server.Endpoints[0]}");

        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        // Let the sessions still open finish (the driver has stopped), then close the rest with 421.
        await server.StopAsync(TimeSpan.FromSeconds(30));
        Console.WriteLine("stopped");
        return 0;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=soak.local", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
    }
}
