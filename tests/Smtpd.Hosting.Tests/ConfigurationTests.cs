using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailKit.Security;
using Microsoft.Extensions.Options;

namespace Smtpd.Hosting.Tests;

public sealed class ConfigurationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryKindOfSettingBindsFromTheSmtpdSection()
    {
        var spool = Directory.CreateTempSubdirectory("smtpd-spool-").FullName;
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:Endpoints:1:Address"] = "::1",
            ["Smtpd:Endpoints:1:Port"] = "0",
            ["Smtpd:DrainTimeout"] = "00:00:05",
            ["Smtpd:ServerName"] = "mx.configured.test",
            ["Smtpd:Banner"] = "ESMTP configured",
            ["Smtpd:MaxMessageSize"] = "1048576",
            ["Smtpd:maxrecipients"] = "7",
            ["Smtpd:CommandTimeout"] = "00:00:30",
            ["Smtpd:BareLineEndings"] = "Normalize",
            ["Smtpd:AuthenticationMechanisms"] = "Plain, CramMd5",
            ["Smtpd:AllowInsecureAuth"] = "true",
            ["Smtpd:SpoolDirectory"] = spool,
        });

        var options = host.Host.Services.GetRequiredService<IOptions<SmtpdOptions>>().Value;
        Assert.Equal(["127.0.0.1:0", "::1:0"], options.Endpoints.Select(e => e.ToString()));
        Assert.Equal(TimeSpan.FromSeconds(5), options.DrainTimeout);

        var server = host.Server.Options;
        Assert.Equal("mx.configured.test", server.ServerName);
        Assert.Equal("ESMTP configured", server.Banner);
        Assert.Equal(1048576, server.MaxMessageSize);
        Assert.Equal(7, server.MaxRecipients);
        Assert.Equal(TimeSpan.FromSeconds(30), server.CommandTimeout);
        Assert.Equal(BareLineEndingPolicy.Normalize, server.BareLineEndings);
        Assert.Equal(SmtpAuthenticationMechanisms.Plain | SmtpAuthenticationMechanisms.CramMd5, server.AuthenticationMechanisms);
        Assert.True(server.AllowInsecureAuth);
        Assert.Equal(spool, server.SpoolDirectory);
        Assert.Equal(2, host.Server.Endpoints.Count);

        using var client = await host.ConnectAsync();
        Assert.Equal(1048576u, client.MaxSize);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public async Task AlwaysAcceptPostmasterBindsFromTheSmtpdSectionAndDefaultsToOn(string? configured, bool expected)
    {
        var settings = new Dictionary<string, string?> { ["Smtpd:Endpoints:0:Address"] = "127.0.0.1", ["Smtpd:Endpoints:0:Port"] = "0" };
        if (configured is not null)
        {
            settings["Smtpd:AlwaysAcceptPostmaster"] = configured;
        }

        await using var host = await TestHost.StartAsync(settings);
        Assert.Equal(expected, host.Server.Options.AlwaysAcceptPostmaster);
    }

    [Fact]
    public async Task TheDelegateRunsAfterBindingAndHasTheLastWord()
    {
        SmtpdOptions? seen = null;
        await using var host = await TestHost.StartAsync(
            new Dictionary<string, string?> { ["Smtpd:ServerName"] = "from.config", ["Smtpd:MaxRecipients"] = "5" },
            configure: o =>
            {
                seen = o;
                Assert.Equal("from.config", o.Server.ServerName);
                o.Server.MaxRecipients = 9;
            });

        Assert.NotNull(seen);
        Assert.Equal("from.config", host.Server.Options.ServerName);
        Assert.Equal(9, host.Server.Options.MaxRecipients);
    }

    [Fact]
    public async Task EndpointsCanBeAddedInCode()
    {
        await using var host = TestHost.Build(configure: o => o.Listen("127.0.0.1", 0), defaultEndpoint: false);
        await host.Host.StartAsync(Ct);

        Assert.Single(host.Server.Endpoints);
        await host.SendAsync();
    }

    [Fact]
    public async Task InvalidSettingsStopTheHostFromStartingAndEveryProblemIsListed()
    {
        await using var host = TestHost.Build(new Dictionary<string, string?>
        {
            ["Smtpd:MaxMesageSize"] = "10",
            ["Smtpd:MaxRecipients"] = "0",
            ["Smtpd:CommandTimeout"] = "soon",
            ["Smtpd:BareLineEndings"] = "Sometimes",
            ["Smtpd:Endpoints:0:Address"] = "not an address!",
            ["Smtpd:Endpoints:0:Port"] = "70000",
            ["Smtpd:Endpoints:1:Port"] = "465",
            ["Smtpd:Endpoints:1:ImplicitTls"] = "true",
            ["Smtpd:Endpoints:2:Prot"] = "25",
            ["Smtpd:DrainTimeout"] = "later",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));
        var failures = string.Join("\n", error.Failures);

        Assert.Contains("Smtpd:MaxMesageSize is not an Smtpd setting", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:MaxRecipients: '0' is refused: MaxRecipients must be from 1 to 100000.", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:CommandTimeout: 'soon' is not a valid time span", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:BareLineEndings: 'Sometimes' is not a valid BareLineEndingPolicy (Reject, Normalize)", failures, StringComparison.Ordinal);
        Assert.Contains("the port must be from 0 to 65535", failures, StringComparison.Ordinal);
        Assert.Contains("'not an address!' is neither an IP address", failures, StringComparison.Ordinal);
        Assert.Contains("An ImplicitTls endpoint needs a certificate", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:Endpoints:2: ", failures, StringComparison.Ordinal);
        Assert.Contains("Prot", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:DrainTimeout: 'later' is not a valid time span", failures, StringComparison.Ordinal);
        Assert.Equal(9, error.Failures.Count());
    }

    [Theory]
    [InlineData("Smtpd:MaxSessionsPerClientExemptions", "127.0.0.0/8, ::1")]
    [InlineData("Smtpd:MaxSessionsPerClientExemptions:0", "127.0.0.0/8")]
    public async Task SessionCapExemptionsBindAsACommaListOrAnArray(string key, string value)
    {
        var settings = new Dictionary<string, string?> { ["Smtpd:Endpoints:0:Address"] = "127.0.0.1", ["Smtpd:Endpoints:0:Port"] = "0", [key] = value };
        if (key.EndsWith(":0", StringComparison.Ordinal))
        {
            settings["Smtpd:MaxSessionsPerClientExemptions:1"] = "::1";
        }

        await using var host = await TestHost.StartAsync(settings);

        Assert.Equal([System.Net.IPNetwork.Parse("127.0.0.0/8"), System.Net.IPNetwork.Parse("::1/128")], host.Server.Options.MaxSessionsPerClientExemptions);
    }

    [Fact]
    public async Task ABadSessionCapExemptionIsAValidationErrorNamingTheEntry()
    {
        await using var host = TestHost.Build(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:MaxSessionsPerClientExemptions"] = "127.0.0.0/8, localhost",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));

        Assert.Equal(
            "Smtpd:MaxSessionsPerClientExemptions: 'localhost' is neither a CIDR block (10.0.0.0/8, with no bits set after the prefix) nor an IP address.",
            Assert.Single(error.Failures));
    }

    [Fact]
    public async Task AProxyProtocolEndpointBindsFromConfigurationAndCallbacksSeeTheClientInTheHeader()
    {
        System.Net.IPEndPoint? seen = null;
        await using var host = await TestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
                ["Smtpd:Endpoints:0:Port"] = "0",
                ["Smtpd:Endpoints:0:ProxyProtocol"] = "true",
                ["Smtpd:Endpoints:0:TrustedProxies:0"] = "127.0.0.0/8",
                ["Smtpd:Endpoints:0:TrustedProxies:1"] = "2001:db8::5",
            },
            configure: o => o.Server.ValidateHost = (session, _) =>
            {
                seen = session.RemoteEndPoint;
                return ValueTask.FromResult(SmtpVerdict.Accept);
            });

        var listener = Assert.Single(host.Server.Listeners);
        Assert.True(listener.ProxyProtocol);
        Assert.Equal([System.Net.IPNetwork.Parse("127.0.0.0/8"), System.Net.IPNetwork.Parse("2001:db8::5/128")], listener.TrustedProxies);

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(host.EndPoint, Ct);
        await socket.SendAsync("PROXY TCP4 203.0.113.7 198.51.100.25 41000 25\r\n"u8.ToArray(), Ct);
        var greeting = new byte[256];
        var read = await socket.ReceiveAsync(greeting, Ct);

        Assert.StartsWith("220 ", System.Text.Encoding.ASCII.GetString(greeting, 0, read), StringComparison.Ordinal);
        Assert.Equal(System.Net.IPEndPoint.Parse("203.0.113.7:41000"), seen);
    }

    [Fact]
    public async Task ProxyProtocolWithoutTrustedProxiesOrWithABadEntryIsAValidationError()
    {
        await using var host = TestHost.Build(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:Endpoints:0:ProxyProtocol"] = "true",
            ["Smtpd:Endpoints:1:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:1:Port"] = "0",
            ["Smtpd:Endpoints:1:ProxyProtocol"] = "true",
            ["Smtpd:Endpoints:1:TrustedProxies:0"] = "10.0.0.1/8",
            ["Smtpd:Endpoints:1:TrustedProxies:1"] = "proxy.example",
            ["Smtpd:Endpoints:1:TrustedProxies:2"] = "10.0.0.0/8",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));

        Assert.Equal(
            [
                "Endpoint 127.0.0.1:0 (PROXY protocol): ProxyProtocol needs TrustedProxies, the proxies allowed to send PROXY headers.",
                "Endpoint 127.0.0.1:0 (PROXY protocol): TrustedProxies entry '10.0.0.1/8' is neither a CIDR block (10.0.0.0/8, with no bits set after the prefix) nor an IP address.",
                "Endpoint 127.0.0.1:0 (PROXY protocol): TrustedProxies entry 'proxy.example' is neither a CIDR block (10.0.0.0/8, with no bits set after the prefix) nor an IP address.",
            ],
            error.Failures.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ACallbackInCodeAndHandlersOfTheSameKindAreAConflict()
    {
        await using var host = TestHost.Build(
            configure: o => o.Server.ValidateRecipient = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Accept),
            smtpd: b => b.AddRecipientValidator<AnyRecipient>());

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));

        Assert.Equal("Server.ValidateRecipient is set in code and ISmtpRecipientValidator handlers are registered: use one or the other.", Assert.Single(error.Failures));
    }

    [Fact]
    public async Task APfxCertificateFileEnablesStartTls()
    {
        using var certificate = CreateCertificate();
        var path = Path.Combine(Directory.CreateTempSubdirectory("smtpd-cert-").FullName, "mail.pfx");
        await File.WriteAllBytesAsync(path, certificate.Export(X509ContentType.Pkcs12, "pw"), Ct);
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Smtpd:Certificate:Path"] = path,
            ["Smtpd:Certificate:Password"] = "pw",
            ["Smtpd:RequireTls"] = "true",
        });
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString() };

        await client.ConnectAsync(host.EndPoint.Address.ToString(), host.EndPoint.Port, SecureSocketOptions.StartTls, Ct);
        await client.SendAsync(TestHost.NewMessage(), Ct);

        Assert.True(client.IsSecure);
    }

    [Fact]
    public async Task APemCertificateWithAKeyFileIsLoadedWithItsKey()
    {
        using var certificate = CreateCertificate();
        var folder = Directory.CreateTempSubdirectory("smtpd-pem-").FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "cert.pem"), certificate.ExportCertificatePem(), Ct);
        await File.WriteAllTextAsync(Path.Combine(folder, "key.pem"), certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), Ct);

        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Smtpd:Certificate:Path"] = Path.Combine(folder, "cert.pem"),
            ["Smtpd:Certificate:KeyPath"] = Path.Combine(folder, "key.pem"),
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:Endpoints:0:ImplicitTls"] = "true",
        });

        Assert.True(host.Server.Options.ServerCertificate!.HasPrivateKey);
        Assert.Equal(certificate.Thumbprint, host.Server.Options.ServerCertificate.Thumbprint);
        Assert.True(host.Server.Listeners[0].ImplicitTls);
    }

    [Fact]
    public async Task AMissingCertificateFileIsAValidationError()
    {
        await using var host = TestHost.Build(new Dictionary<string, string?> { ["Smtpd:Certificate:Path"] = "/nonexistent/mail.pfx" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));

        Assert.Equal("Certificate: the file '/nonexistent/mail.pfx' does not exist.", Assert.Single(error.Failures));
    }

    [Fact]
    public async Task TheWorkerSampleSettingsBindAndItsHandlerLogsEachMessage()
    {
        await using var host = TestHost.Build(
            new Dictionary<string, string?> { ["Smtpd:Endpoints:0:Port"] = "0" },
            smtpd: b => b.AddRecipientValidator<Samples.WorkerService.LocalDomainsOnly>().AddMimeMessageHandler<Samples.WorkerService.LogMessageHandler>(),
            jsonFile: Path.Combine(AppContext.BaseDirectory, "appsettings.json"));
        await host.Host.StartAsync(Ct);

        await host.SendAsync(TestHost.NewMessage(to: "bob@localhost", subject: "Hi worker"));
        var relay = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendAsync(TestHost.NewMessage(to: "bob@example.com")));

        Assert.Equal("worker.localhost", host.Server.Options.ServerName);
        Assert.Equal(50, host.Server.Options.MaxRecipients);
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, relay.ErrorCode);
        Assert.Contains(host.Logs.Entries, e => e.Category.EndsWith("LogMessageHandler", StringComparison.Ordinal)
            && e.Message.StartsWith("Mail from alice@example.com to bob@localhost: \"Hi worker\"", StringComparison.Ordinal));
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    private sealed class AnyRecipient : ISmtpRecipientValidator
    {
        public ValueTask<SmtpVerdict> ValidateRecipientAsync(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken) =>
            ValueTask.FromResult(SmtpVerdict.Accept);
    }
}
