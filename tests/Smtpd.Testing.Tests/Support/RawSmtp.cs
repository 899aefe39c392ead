using System.Net.Sockets;
using System.Text;

namespace Smtpd.Testing.Tests.Support;

/// <summary>A byte-exact SMTP conversation over a socket, for checks that no client library may rewrite.</summary>
public static class RawSmtp
{
    /// <summary>Sends <paramref name="wireContent"/> (already dot-stuffed, without the final dot) and returns every reply line.</summary>
    public static async Task<string> SendAsync(SmtpTestServer smtp, byte[] wireContent, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(smtp.EndPoint, cancellationToken);
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var transcript = new StringBuilder();

        async Task ExpectAsync(string code)
        {
            string? line;
            do
            {
                line = await reader.ReadLineAsync(cancellationToken) ?? throw new IOException("The server closed the connection.");
                transcript.AppendLine(line);
            }
            while (line.Length > 3 && line[3] == '-');

            if (!line.StartsWith(code, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"Expected {code}, got: {transcript}");
            }
        }

        async Task SendLineAsync(string line) => await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), cancellationToken);

        await ExpectAsync("220");
        await SendLineAsync("EHLO raw.test");
        await ExpectAsync("250");
        await SendLineAsync("MAIL FROM:<alice@example.com> BODY=8BITMIME");
        await ExpectAsync("250");
        await SendLineAsync("RCPT TO:<bob@example.com>");
        await ExpectAsync("250");
        await SendLineAsync("DATA");
        await ExpectAsync("354");
        await stream.WriteAsync(wireContent, cancellationToken);
        await SendLineAsync(".");
        await ExpectAsync("250");
        await SendLineAsync("QUIT");
        await ExpectAsync("221");
        return transcript.ToString();
    }
}
