using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary>
/// The catcher process's HTTP surface: the security flags (<c>--ui-auth</c>, <c>--ui-auth-file</c>,
/// <c>SMTPD_UI_AUTH</c>, <c>--http-host</c>, <c>--api-cors</c>) from the command line, the environment and the
/// config file, the inbox at <c>/</c> and under <c>--base-path</c>, and <c>--http-tls</c>.
/// </summary>
public sealed class HttpSecurityFlagTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UiAuthAsksForAPasswordAndAWrongOneGets401()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--ui-auth", "alice:s3cret pass");
        using var http = Client(catcher);

        using var anonymous = await http.GetAsync("/api/v1/messages", Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Basic", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, "/", Basic("alice", "wrong")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/messages", Basic("alice", "s3cret pass")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/", Basic("alice", "s3cret pass")));
    }

    [Fact]
    public async Task UiAuthFileTakesBcryptHashesFromAnHtpasswdFile()
    {
        using var dir = new TestDirectory();
        var file = dir.Combine("htpasswd");
        await File.WriteAllTextAsync(file, "# users\nbob:" + BCrypt.Net.BCrypt.HashPassword("hunter2", 4) + "\n", Cancel);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--ui-auth-file", file);
        using var http = Client(catcher);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, "/api/v1/info", Basic("bob", "hunter3")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/info", Basic("bob", "hunter2")));
    }

    [Fact]
    public async Task SmtpdUiAuthTakesASpaceSeparatedListOfUsers()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_UI_AUTH"] = "alice:one bob:two,three" });
        using var http = Client(catcher);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/info", Basic("alice", "one")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/info", Basic("bob", "two,three")));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, "/api/v1/info", Basic("bob", "two")));
    }

    [Fact]
    public async Task AForgedHostGets403AndHttpHostAdmitsTheNameItGives()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http-host", "mail.test");
        using var http = Client(catcher);

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(http, "/api/v1/messages", host: "attacker.example"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/messages", host: "mail.test"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/messages", host: "localhost"));
    }

    [Fact]
    public async Task ACrossSitePostIsRefusedAndASameOriginOneIsServed()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        using var http = Client(catcher);
        const string Body = """{"From":{"Email":"app@example.com"},"To":[{"Email":"user@example.com"}],"Subject":"Posted","Text":"hi"}""";

        using (var forged = new HttpRequestMessage(HttpMethod.Post, "/api/v1/send") { Content = new StringContent(Body, Encoding.UTF8, "application/json") })
        {
            forged.Headers.Add("Origin", "https://attacker.example");
            forged.Headers.Add("Sec-Fetch-Site", "cross-site");
            using var refused = await http.SendAsync(forged, Cancel);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        using (var form = new HttpRequestMessage(HttpMethod.Post, "/api/v1/send") { Content = new StringContent(Body, Encoding.UTF8, "text/plain") })
        {
            // A page can POST text/plain without a preflight: only application/json is taken.
            using var refused = await http.SendAsync(form, Cancel);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, refused.StatusCode);
        }

        using var own = new HttpRequestMessage(HttpMethod.Post, "/api/v1/send") { Content = new StringContent(Body, Encoding.UTF8, "application/json") };
        own.Headers.Add("Origin", http.BaseAddress!.GetLeftPart(UriPartial.Authority));
        own.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var sent = await http.SendAsync(own, Cancel);
        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        Assert.Equal("Posted", (await catcher.NextMessageAsync()).GetProperty("subject").GetString());
    }

    [Fact]
    public async Task CorsIsOffByDefault()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        using var http = Client(catcher);
        using var response = await GetWithOriginAsync(http, "http://app.test:3000");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("flag")]
    [InlineData("environment")]
    [InlineData("config")]
    public async Task ApiCorsAllowsTheOriginItGivesFromEachSource(string source)
    {
        using var dir = new TestDirectory();
        await using var catcher = await StartWithAsync(dir, source, "api-cors", "http://app.test:3000");
        using var http = Client(catcher);

        using var allowed = await GetWithOriginAsync(http, "http://app.test:3000");
        Assert.Equal("http://app.test:3000", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        using var other = await GetWithOriginAsync(http, "http://other.test");
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("environment")]
    [InlineData("config")]
    public async Task HttpHostAndUiAuthComeFromTheEnvironmentAndTheConfigFile(string source)
    {
        using var dir = new TestDirectory();
        var environment = new Dictionary<string, string>();
        var args = new List<string>();
        if (source == "environment")
        {
            environment["SMTPD_HTTP_HOST"] = "mail.test,smtpd";
            environment["SMTPD_UI_AUTH"] = "carol:pw";
        }
        else
        {
            var config = dir.Combine("smtpd.conf");
            await File.WriteAllTextAsync(config, "http-host = mail.test\nhttp-host = smtpd\nui-auth = carol:pw\n", Cancel);
            args.AddRange(["--config", config]);
        }

        await using var catcher = await CatcherProcess.StartAsync(dir, args, environment);
        using var http = Client(catcher);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/info", Basic("carol", "pw"), host: "smtpd"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(http, "/api/v1/info", Basic("carol", "pw"), host: "other.test"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, "/api/v1/info", host: "mail.test"));
    }

    [Fact]
    public async Task HttpAndBasePathComeFromTheConfigFileAndTheEnvironment()
    {
        using var dir = new TestDirectory();
        var config = dir.Combine("smtpd.conf");
        await File.WriteAllTextAsync(config, "http = 127.0.0.1:0\nbase-path = /cfg/\n", Cancel);
        // An empty SMTPD_HTTP is no value, so the config file's http applies.
        await using (var fromFile = await CatcherProcess.StartAsync(dir, ["--config", config], new Dictionary<string, string> { ["SMTPD_HTTP"] = string.Empty }))
        {
            using var http = Client(fromFile);
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/cfg/api/v1/messages"));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/cfg/"));
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(http, "/api/v1/messages"));
        }

        await using (var fromEnvironment = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_BASE_PATH"] = "/env" }))
        {
            using var http = Client(fromEnvironment);
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/env/api/v1/messages"));
        }

        await using var off = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_NO_HTTP"] = "true" });
        Assert.Empty(off.HttpListeners);
    }

    [Theory]
    [InlineData("--ui-auth", "no-colon")]
    [InlineData("--ui-auth", ":nouser")]
    [InlineData("--ui-auth-file", "missing-htpasswd")]
    [InlineData("--ui-auth-file", "bad-htpasswd")]
    [InlineData("--http-host", "http://mail.test/")]
    [InlineData("--api-cors", "ftp://app.test")]
    public async Task BadSecurityValuesAreRefusedOnOneLineNamingTheFlag(string flag, string value)
    {
        using var dir = new TestDirectory();
        if (value == "bad-htpasswd")
        {
            await File.WriteAllTextAsync(dir.Combine(value), "dave:plaintext\n", Cancel);
        }

        var argument = flag == "--ui-auth-file" ? dir.Combine(value) : value;
        var result = await SmtpdCli.RunAsync(dir, flag, argument, "--db", dir.Database);
        Assert.Equal(2, result.ExitCode);
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.Contains(flag, StringComparison.Ordinal));
        Assert.StartsWith("smtpd: " + flag, error.Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheInboxIsServedAtTheRootAndReportsTheRealSmtpAddress()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        using var http = Client(catcher);

        using var page = await http.GetAsync("/", Cancel);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var webui = JsonDocument.Parse(await http.GetStringAsync("/api/v1/webui", Cancel)).RootElement;
        Assert.Equal([catcher.EndPoint.ToString()], webui.GetProperty("Smtpd").GetProperty("SmtpListeners").EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public async Task UnderBasePathTheInboxRedirectsToItsSlashAndTheViewMayBeFramed()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--base-path", "/mail/");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Framed"));
        await catcher.NextMessageAsync();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://{catcher.HttpListeners[0].EndPoint}") };

        using var bare = await http.GetAsync("/mail", Cancel);
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/mail/", bare.Headers.Location?.OriginalString);
        using var page = await http.GetAsync("/mail/", Cancel);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        var id = JsonDocument.Parse(await http.GetStringAsync("/mail/api/v1/messages", Cancel)).RootElement.GetProperty("messages")[0].GetProperty("ID").GetString();
        using var view = await http.GetAsync($"/mail/view/{id}.html", Cancel);
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        Assert.Equal("SAMEORIGIN", view.Headers.GetValues("X-Frame-Options").Single());
        using var outside = await http.GetAsync("/", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
    }

    [Fact]
    public async Task HttpTlsServesTheApiOverHttpsWithTheGivenCertificate()
    {
        using var dir = new TestDirectory();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(dir.Combine("cert.pem"), certificate.ExportCertificatePem(), Cancel);
        await File.WriteAllTextAsync(dir.Combine("key.pem"), key.ExportPkcs8PrivateKeyPem(), Cancel);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http-tls", "--tls-cert", dir.Combine("cert.pem"), "--tls-key", dir.Combine("key.pem"));
        var api = Assert.Single(catcher.HttpListeners);
        Assert.True(api.Tls);

        string? seen = null;
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, served, _, _) =>
            {
                seen = served?.Thumbprint;
                return served?.Thumbprint == certificate.Thumbprint;
            },
        };
        using var https = new HttpClient(handler) { BaseAddress = new Uri($"https://{api.EndPoint}") };
        using var response = await https.GetAsync("/api/v1/messages", Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(certificate.Thumbprint, seen);
        Assert.Equal(0, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task TheStartupLineNamesTheInboxAddressAndTheLogin()
    {
        using var dir = new TestDirectory();
        using var process = System.Diagnostics.Process.Start(SmtpdCli.StartInfo(dir, ["--listen", "127.0.0.1:0", "--db", dir.Database, "--ui-auth", "alice:pw"]))!;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            Assert.NotNull(line);
            Assert.Matches(@"; inbox and HTTP API on http://127\.0\.0\.1:\d+/ \(login for 1 user\(s\)\); Ctrl-C to stop$", line);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static HttpClient Client(CatcherProcess catcher) => new() { BaseAddress = new Uri($"http://{catcher.HttpListeners[0].EndPoint}") };

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, string path, AuthenticationHeaderValue? authorization = null, string? host = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = authorization;
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        using var response = await http.SendAsync(request, Cancel);
        return response.StatusCode;
    }

    private static async Task<HttpResponseMessage> GetWithOriginAsync(HttpClient http, string origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/messages");
        request.Headers.Add("Origin", origin);
        return await http.SendAsync(request, Cancel);
    }

    private static async Task<CatcherProcess> StartWithAsync(TestDirectory dir, string source, string name, string value)
    {
        switch (source)
        {
            case "flag":
                return await CatcherProcess.StartAsync(dir, "--" + name, value);
            case "environment":
                return await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_" + name.Replace('-', '_').ToUpperInvariant()] = value });
            default:
                var config = dir.Combine("smtpd.conf");
                await File.WriteAllTextAsync(config, $"{name} = {value}\n", Cancel);
                return await CatcherProcess.StartAsync(dir, "--config", config);
        }
    }
}
