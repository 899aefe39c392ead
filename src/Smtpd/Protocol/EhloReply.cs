using System.Buffers;
using System.Text;

namespace Smtpd.Protocol;

/// <summary>When an EHLO keyword is advertised.</summary>
internal enum EhloCondition
{
    /// <summary>In every EHLO reply.</summary>
    Always,

    /// <summary>With <see cref="SmtpServerOptions.EnableDsn"/> (RFC 3461).</summary>
    DsnEnabled,

    /// <summary>While STARTTLS can be offered: a certificate is set and the channel is not yet encrypted (RFC 3207).</summary>
    TlsOffered,

    /// <summary>While AUTH can be offered: a callback is set, the channel allows it, and nobody is logged in (RFC 4954).</summary>
    AuthOffered,
}

/// <summary>An EHLO keyword, the condition under which it is advertised, and the verb that serves it, if any.</summary>
/// <param name="Name">The keyword as advertised (without parameters).</param>
/// <param name="Condition">When it is advertised.</param>
/// <param name="Verb">The command it announces, or <see langword="null"/> for a parameter or a property of the service.</param>
internal sealed record EhloKeyword(string Name, EhloCondition Condition, SmtpVerb? Verb);

/// <summary>
/// The EHLO (and LHLO) reply: the first line names the client, the rest lists the extensions. Adding an extension
/// is one row of <see cref="Keywords"/>; a test checks that each row's condition switches it on and off and that
/// the verb it announces has a handler.
/// </summary>
internal static class EhloReply
{
    /// <summary>Every keyword the server can advertise, in the order it advertises them.</summary>
    public static readonly EhloKeyword[] Keywords =
    [
        // RFC 1870: SIZE with the limit, checked at MAIL.
        new("SIZE", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 6152, RFC 6531: MAIL parameters.
        new("8BITMIME", EhloCondition.Always, SmtpVerb.Mail),
        new("SMTPUTF8", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 2920: a property of the service, no command.
        new("PIPELINING", EhloCondition.Always, null),
        // RFC 3030: BDAT, and BODY=BINARYMIME at MAIL.
        new("CHUNKING", EhloCondition.Always, SmtpVerb.Bdat),
        new("BINARYMIME", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 2034: every reply carries its enhanced status code once advertised.
        new("ENHANCEDSTATUSCODES", EhloCondition.Always, null),
        // RFC 3461 4: the keyword has no parameters.
        new("DSN", EhloCondition.DsnEnabled, SmtpVerb.Mail),
        new("STARTTLS", EhloCondition.TlsOffered, SmtpVerb.StartTls),
        new("AUTH", EhloCondition.AuthOffered, SmtpVerb.Auth),
        new("HELP", EhloCondition.Always, SmtpVerb.Help),
    ];

    /// <summary>Writes the whole reply: <c>250-NAME Hello CLIENT</c>, then the extensions.</summary>
    public static void Write(IBufferWriter<byte> output, SmtpServerOptions options, string clientName, bool offerStartTls, string? authKeyword)
    {
        WriteText(output, "250-");
        WriteText(output, options.ServerName);
        WriteText(output, " Hello ");
        WriteText(output, clientName);
        WriteText(output, "\r\n");

        // The rest is the same for every session of these options, so it is encoded once per combination.
        output.Write(options.EhloExtensions(offerStartTls, authKeyword));
    }

    /// <summary>The extension lines (every line of the reply but the first), as the options cache them.</summary>
    public static byte[] EncodeExtensions(SmtpServerOptions options, bool offerStartTls, string? authKeyword)
    {
        var text = new StringBuilder();
        string? previous = null;
        foreach (var keyword in Keywords)
        {
            var offered = keyword.Condition switch
            {
                EhloCondition.Always => true,
                EhloCondition.DsnEnabled => options.EnableDsn,
                EhloCondition.TlsOffered => offerStartTls,
                EhloCondition.AuthOffered => authKeyword is not null,
                _ => throw new InvalidOperationException($"EHLO condition {keyword.Condition} has no case"),
            };
            if (!offered)
            {
                continue;
            }

            if (previous is not null)
            {
                text.Append("250-").Append(previous).Append("\r\n");
            }

            previous = keyword.Name switch
            {
                "SIZE" => $"SIZE {options.MaxMessageSize}",
                "AUTH" => authKeyword,
                _ => keyword.Name,
            };
        }

        text.Append("250 ").Append(previous).Append("\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>Writes text (already checked to hold no CR or LF) straight into the output as UTF-8.</summary>
    private static void WriteText(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}
