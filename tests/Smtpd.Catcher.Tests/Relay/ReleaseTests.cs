using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Testing;

namespace Smtpd.Catcher.Tests.Relay;

/// <summary>
/// <c>POST /api/v1/message/{ID}/release</c> end to end: a catcher relays through MailKit to a second smtpd
/// (Smtpd.Testing's in-process server) with STARTTLS, AUTH and scripted refusals, or to a closed port.
/// </summary>
public sealed class ReleaseTests
{
    /// <summary>A message with a Bcc field, folded headers and 8-bit text: what must survive a release byte for byte.</summary>
    internal const string Original =
        "From: Alice <alice@example.com>\r\n" +
        "To: Bob <bob@example.com>\r\n" +
        "Bcc: secret@example.com,\r\n" +
        "  other-secret@example.com\r\n" +
        "Subject: Quarterly\r\n" +
        "  report\r\n" +
        "Message-ID: <release-1@example.com>\r\n" +
        "X-Custom:   spaced   value\r\n" +
        "\r\n" +
        "Line one\r\n" +
        "Bcc: this body line is not a header\r\n";

    /// <summary>The original without its Bcc field, continuation line included.</summary>
    internal const string Released =
        "From: Alice <alice@example.com>\r\n" +
        "To: Bob <bob@example.com>\r\n" +
        "Subject: Quarterly\r\n" +
        "  report\r\n" +
        "Message-ID: <release-1@example.com>\r\n" +
        "X-Custom:   spaced   value\r\n" +
        "\r\n" +
        "Line one\r\n" +
        "Bcc: this body line is not a header\r\n";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AReleasedMessageKeepsItsBytesLosesItsBccAndGoesToTheGivenRecipientsFromTheOriginalSender()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = Url(target));
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org", "dave@example.org");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync(Cancel));
        var relayed = await target.WaitForMessageAsync(cancellationToken: Cancel);
        Assert.Equal(Released, relayed.RawText);
        Assert.Equal("alice@example.com", relayed.From);
        Assert.Equal(["carol@example.org", "dave@example.org"], relayed.To);
    }

    [Fact]
    public async Task TheConfiguredSenderReplacesTheOriginalMailFrom()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = Url(target);
            o.Relay.Sender = "relay@example.net";
        });
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("relay@example.net", (await target.WaitForMessageAsync(cancellationToken: Cancel)).From);
    }

    [Fact]
    public async Task LatestReleasesTheNewestMessage()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = Url(target));
        await host.SendSimpleAsync("Older");
        await host.SendSimpleAsync("Newest");

        using var response = await ReleaseAsync(host, "latest", "carol@example.org");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Newest", (await target.WaitForMessageAsync(cancellationToken: Cancel)).Subject);
    }

    [Fact]
    public async Task AnUpstreamRefusalGets400NamingTheServerAndItsReplyAndTheMessageStaysStored()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        target.Faults.Reject(SmtpFaultPoint.Rcpt, 550, "5.1.1", "no such user here");
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = Url(target));
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "nobody@example.org");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.StartsWith("SMTP error: ", text, StringComparison.Ordinal);
        Assert.Contains($"smtp://127.0.0.1:{target.Port}", text, StringComparison.Ordinal);
        Assert.Contains("RCPT TO:<nobody@example.org>", text, StringComparison.Ordinal);
        Assert.Contains("550", text, StringComparison.Ordinal);
        Assert.Contains("no such user here", text, StringComparison.Ordinal);
        Assert.Empty(target.Messages);
        await host.GetJsonAsync($"/api/v1/message/{id}");
    }

    [Fact]
    public async Task AServerThatCannotBeReachedGets502NamingItAndTheMessageStaysStored()
    {
        var closedPort = ClosedPort();
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = new Uri($"smtp://127.0.0.1:{closedPort}"));
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.Contains($"smtp://127.0.0.1:{closedPort} could not be reached", text, StringComparison.Ordinal);
        await host.GetJsonAsync($"/api/v1/message/{id}");
    }

    [Fact]
    public async Task StartTlsWithAnUntrustedCertificateRelaysOnlyWhenAllowed()
    {
        await using var target = await SmtpTestServer.StartAsync(o => o.UseStartTls(require: true), Cancel);
        await using var strict = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = Url(target);
            o.Relay.RequireStartTls = true;
        });
        var refusedId = await StoreAsync(strict);
        using (var refused = await ReleaseAsync(strict, refusedId, "carol@example.org"))
        {
            // The test certificate is self-signed: the machine's trust store refuses it, so nothing is sent.
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Empty(target.Messages);
        }

        await using var lab = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = Url(target);
            o.Relay.RequireStartTls = true;
            o.Relay.AllowUntrustedCertificate = true;
        });
        var id = await StoreAsync(lab);
        using var response = await ReleaseAsync(lab, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var relayed = await target.WaitForMessageAsync(cancellationToken: Cancel);
        Assert.True(relayed.Session.IsSecure);
        Assert.Equal(Released, relayed.RawText);
    }

    [Fact]
    public async Task RequireStartTlsRefusesAServerWithoutIt()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = Url(target);
            o.Relay.RequireStartTls = true;
        });
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("STARTTLS", await response.Content.ReadAsStringAsync(Cancel), StringComparison.OrdinalIgnoreCase);
        Assert.Empty(target.Messages);
    }

    [Fact]
    public async Task SmtpsRelaysOverImplicitTls()
    {
        await using var target = await SmtpTestServer.StartAsync(o => o.UseImplicitTls(), Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = new Uri($"smtps://127.0.0.1:{target.Port}");
            o.Relay.AllowUntrustedCertificate = true;
        });
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((await target.WaitForMessageAsync(cancellationToken: Cancel)).Session.IsSecure);
    }

    [Fact]
    public async Task CredentialsInTheUrlAuthenticateAndAWrongPasswordGets400NamingAuth()
    {
        await using var target = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("relay-user", "p@ss:word"), Cancel);
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = new Uri($"smtp://relay-user:p%40ss%3Aword@127.0.0.1:{target.Port}"));
        var id = await StoreAsync(host);

        using (var response = await ReleaseAsync(host, id, "carol@example.org"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal("relay-user", (await target.WaitForMessageAsync(cancellationToken: Cancel)).Session.AuthenticatedIdentity);

        await using var wrong = await CatcherHost.StartAsync(o => o.Relay.Server = new Uri($"smtp://relay-user:nope@127.0.0.1:{target.Port}"));
        var wrongId = await StoreAsync(wrong);
        using var refused = await ReleaseAsync(wrong, wrongId, "carol@example.org");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var text = await refused.Content.ReadAsStringAsync(Cancel);
        Assert.Contains("AUTH as relay-user", text, StringComparison.Ordinal);
        Assert.DoesNotContain("nope", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"To":["mallory@evil.example"]}""", "mallory@evil.example")]
    [InlineData("""{"To":["ok@example.org","mallory@evil.example","eve@evil.example"]}""", "mallory@evil.example, eve@evil.example")]
    public async Task RecipientsOutsideTheAllowListGet400NamingThemAndNothingIsSent(string body, string named)
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = Url(target);
            o.Relay.AllowRecipients = new Regex("@example\\.org$", RegexOptions.IgnoreCase);
        });
        var id = await StoreAsync(host);

        using var response = await PostAsync(host, $"/api/v1/message/{id}/release", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.EndsWith(named, text, StringComparison.Ordinal);
        Assert.Contains("allow-list", text, StringComparison.Ordinal);
        Assert.Empty(target.Messages);
    }

    [Theory]
    [InlineData("""{"To":[]}""", "no valid addresses")]
    [InlineData("""{}""", "no valid addresses")]
    [InlineData("""{"To":["not an address"]}""", "invalid email address")]
    [InlineData("""{"To":["a@b.example>\r\nRCPT TO:<x@y.example"]}""", "invalid email address")]
    [InlineData("""{"To":"carol@example.org"}""", "malformed JSON")]
    [InlineData("""not json""", "malformed JSON")]
    public async Task ABadBodyGets400WithAReason(string body, string reason)
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = Url(target));
        var id = await StoreAsync(host);

        using var response = await PostAsync(host, $"/api/v1/message/{id}/release", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.Contains(reason, text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain('\n', text);
    }

    [Fact]
    public async Task ReleaseWithoutARelayServerGets400SayingHowToEnableIt()
    {
        await using var host = await CatcherHost.StartAsync();
        var id = await StoreAsync(host);

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("--relay", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("999")]
    [InlineData("not-an-id")]
    public async Task AnUnknownIdGets404(string id)
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o => o.Relay.Server = Url(target));

        using var response = await ReleaseAsync(host, id, "carol@example.org");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    internal static Uri Url(SmtpTestServer target) => new($"smtp://127.0.0.1:{target.Port}");

    /// <summary>Stores <see cref="Original"/> exactly (an SMTP client would strip its Bcc field before sending).</summary>
    internal static async Task<string> StoreAsync(CatcherHost host)
    {
        var content = Encoding.UTF8.GetBytes(Original);
        var id = await host.Catcher.StoreLocalAsync(content, new MessageRecord
        {
            ReceivedAt = DateTimeOffset.UtcNow,
            MailFrom = "alice@example.com",
            Recipients = ["bob@example.com", "secret@example.com", "other-secret@example.com"],
            Client = "test",
            Size = content.Length,
            Sha256 = string.Empty,
        });
        return id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static Task<HttpResponseMessage> ReleaseAsync(CatcherHost host, string id, params string[] to) =>
        host.Client.PostAsJsonAsync($"/api/v1/message/{id}/release", new { To = to }, Cancel);

    private static Task<HttpResponseMessage> PostAsync(CatcherHost host, string path, string body) =>
        host.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Cancel);

    /// <summary>A port nothing listens on: bound, then released (nothing else on the loopback takes it in between).</summary>
    internal static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
