using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// Hostile command lines over a socket: the 512-octet limit at every boundary and split, octets that have no place
/// in a command, and other protocols spoken to the SMTP port. The plain 512/513 and 1 MB cases are in
/// <c>Integration/LimitTests</c>; the heap-measuring variant is in <see cref="ResourceTests"/>.
/// </summary>
public sealed class CommandLineTests
{
    private const string LineTooLong = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.4)";
    private const string Unrecognized = "500 5.5.2 Command unrecognized";
    private const string InvalidCharacters = "501 5.5.2 Syntax error: invalid characters in command";

    [Theory]
    [InlineData("\r\n", Delivery.ByteByByte)]
    [InlineData("\n", Delivery.ByteByByte)]
    [InlineData("\r\n", Delivery.Whole)]
    [InlineData("\n", Delivery.Whole)]
    public async Task TheLimitIs512OctetsWithTheLineEndWhateverTheLineEndAndHoweverTheLineArrives(string end, Delivery delivery)
    {
        await using var server = TestServer.Start();
        string Line(int octets) => "NOOP " + new string('x', octets - 5 - end.Length) + end;
        var script = "EHLO client.test\r\n" + Line(512) + Line(513) + Line(512) + "QUIT\r\n";
        Assert.Equal(18 + 512 + 513 + 512 + 6, script.Length);

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script), delivery);

        Wire.AssertWellFormed(transcript);
        Assert.Equal(["250 2.0.0 OK", LineTooLong, "250 2.0.0 OK", "221 2.0.0 Bye"], transcript.Replies[1..]);
    }

    [Fact]
    public async Task AnOverlongMailCommandIsNeverParsedEvenWhenItsPathWouldBeValid()
    {
        // The limit is applied before parsing: an over-long MAIL must not open a transaction.
        await using var server = TestServer.Start();
        var mail = "MAIL FROM:<a@b.example>" + new string(' ', 600) + "\r\n";
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + mail + "RCPT TO:<r@b.example>\r\nQUIT\r\n"));
        Assert.Equal([LineTooLong, "503 5.5.1 Bad sequence of commands: need MAIL before RCPT", "221 2.0.0 Bye"], transcript.Replies[1..]);
    }

    [Fact]
    public async Task SixteenOverlongLinesInOneWriteGetOneErrorEachAndNothingElse()
    {
        await using var server = TestServer.Start();
        var junk = string.Concat(Enumerable.Repeat(new string('A', 5000) + "\r\n", 16));
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + junk + "QUIT\r\n"));
        Assert.Equal([.. Enumerable.Repeat(LineTooLong, 16), "221 2.0.0 Bye"], transcript.Replies[1..]);
    }

    public static TheoryData<string, string> BadOctets => new()
    {
        { "NOOP\0", Unrecognized },
        { "NOOP a\0b", InvalidCharacters },
        { "MAIL FROM:<a\0b@example.com>", InvalidCharacters },
        { "MAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>", InvalidCharacters },
        { "HELO a\rb", InvalidCharacters },
        { "VRFY \u001b[31mred", InvalidCharacters },
        { "NOOP \u007f", InvalidCharacters },
        { "\0", Unrecognized },
        { "\0NOOP", Unrecognized },
        { "NO\0OP", Unrecognized },
        { "\u0080\u0081\u00fe\u00ff", Unrecognized },
        { "N\u00d6OP", Unrecognized },
        { "\u00efNOOP", Unrecognized },
        { "EHLO \u00ff\u00fe", "501 5.5.4 Syntax error: domain name required" },
        { "MAIL FROM:<j\u00f6rg@example.com>", "501 5.1.7 Bad sender address syntax" },
        { "MAIL FROM:<j\u00c3\u00b6rg@example.com>", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)" },
        { "MAIL FROM:<a@b.example> SIZE=1\u00a0", "501 5.5.4 Syntax error: use MAIL FROM:<address>" },
        { "\r", Unrecognized },
        { "\r\r", Unrecognized },
    };

    [Theory]
    [MemberData(nameof(BadOctets))]
    public async Task NulHighAndControlOctetsInACommandGetAnErrorThatEchoesNothingAndTheSessionCarriesOn(string line, string expected)
    {
        await using var server = TestServer.Start();
        foreach (var delivery in new[] { Delivery.Whole, Delivery.ByteByByte })
        {
            var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + line + "\r\nNOOP\r\nQUIT\r\n"), delivery);
            Wire.AssertWellFormed(transcript);
            Assert.Equal([expected, "250 2.0.0 OK", "221 2.0.0 Bye"], transcript.Replies[1..]);
        }

        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task AnHttpGetWithBrowserHeadersGetsOne421AndNoLineOfItIsRunAsSmtp()
    {
        await using var server = TestServer.Start();
        var headers = new[]
        {
            "Host: mail.example.com:25", "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language: en-US,en;q=0.5",
            "Accept-Encoding: gzip, deflate, br", "Connection: keep-alive", "Upgrade-Insecure-Requests: 1", "Sec-Fetch-Dest: document",
            "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: none", "Sec-Fetch-User: ?1", "Priority: u=0, i", "Pragma: no-cache",
            "Cache-Control: no-cache", "DNT: 1", "Cookie: session=<script>alert(1)</script>", "Referer: http://evil.example/",
            "X-Forwarded-For: 10.0.0.1", "Origin: http://evil.example",
        };
        var request = "GET / HTTP/1.1\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\nEHLO after.example\r\nMAIL FROM:<a@b.example>\r\n";
        Assert.Equal(19, headers.Length);

        var (greeting, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(request));

        Assert.StartsWith("220 test.local ", greeting, StringComparison.Ordinal);
        Wire.AssertWellFormed(transcript);
        // The request line alone ends the session (Postfix's smtpd_forbidden_commands): no header, and none of the
        // SMTP commands after the blank line, is ever read as a command.
        Assert.Equal(["421 Not an SMTP command: another protocol on the SMTP port; closing connection"], transcript.Replies);
        Assert.DoesNotContain("HTTP", Encoding.Latin1.GetString(transcript.Raw), StringComparison.Ordinal);
        Assert.DoesNotContain("script", Encoding.Latin1.GetString(transcript.Raw), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AShortHttpRequestIsAnsweredOnceAndTheConnectionClosed()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
        Assert.Equal("421 Not an SMTP command: another protocol on the SMTP port; closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task ATlsClientHelloSentToThePlainPortIsAnsweredAsJunkAndNeverAsTls()
    {
        await using var server = TestServer.Start(o => o.MaxErrors = 3);
        // The start of a TLS 1.2 ClientHello record, with line feeds inside it as real ones often have.
        var hello = new byte[] { 0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03, 0x0a, 0x11, 0x0a, 0x22, 0x0a, 0x33, 0x0a, 0x44 };
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, hello);
        Wire.AssertWellFormed(transcript);
        Assert.Equal(["500 Command unrecognized", "500 Command unrecognized", "500 Command unrecognized", "421 Too many errors, closing connection"], transcript.Replies);
    }
}
