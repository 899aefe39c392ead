using System.Buffers;
using System.Text;
using Smtpd.Sessions;

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
/// <param name="Verb">
/// The command that serves it: the verb that takes the parameter, the command it announces (set from the command
/// table's row), or <see langword="null"/> for a property of the service.
/// </param>
internal sealed record EhloKeyword(string Name, EhloCondition Condition, SmtpVerb? Verb = null);

/// <summary>
/// The EHLO (and LHLO) reply: the first line names the client, the rest lists the extensions. A keyword that
/// announces a command is declared on that command's row of <see cref="SmtpProtocol.CommandTable"/>; the others
/// (parameters of MAIL and RCPT, properties of the service) are rows of <see cref="ServiceKeywords"/>. A test checks
/// that each keyword's condition switches it on and off and that every condition has a case here.
/// </summary>
internal static class EhloReply
{
    /// <summary>
    /// The keywords that announce no command of their own, in the order they are advertised, before the command
    /// keywords: RFC 5321 4.1.1.1 gives the ehlo-lines no order.
    /// </summary>
    public static readonly EhloKeyword[] ServiceKeywords =
    [
        // RFC 1870: SIZE with the limit, checked at MAIL.
        new("SIZE", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 6152, RFC 6531: MAIL parameters.
        new("8BITMIME", EhloCondition.Always, SmtpVerb.Mail),
        new("SMTPUTF8", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 2920: a property of the service, no command.
        new("PIPELINING", EhloCondition.Always),
        // RFC 3030: BODY=BINARYMIME at MAIL (its CHUNKING keyword is on the BDAT row).
        new("BINARYMIME", EhloCondition.Always, SmtpVerb.Mail),
        // RFC 2034: every reply carries its enhanced status code once advertised.
        new("ENHANCEDSTATUSCODES", EhloCondition.Always),
        // RFC 3461 4: the keyword has no parameters.
        new("DSN", EhloCondition.DsnEnabled, SmtpVerb.Mail),
    ];

    /// <summary>
    /// Every keyword the server can advertise, in the order it advertises them: <see cref="ServiceKeywords"/>, then
    /// the command keywords in the order of the command table's rows.
    /// </summary>
    public static readonly EhloKeyword[] Keywords =
    [
        .. ServiceKeywords,
        .. SmtpProtocol.CommandTable.Where(row => row.Ehlo is not null).Select(row => row.Ehlo! with { Verb = row.Verb }),
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
            if (!IsOffered(keyword.Condition, options, offerStartTls, authKeyword))
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

    /// <summary>Whether a keyword advertised under <paramref name="condition"/> is in the reply.</summary>
    /// <exception cref="InvalidOperationException">The condition has no case here.</exception>
    internal static bool IsOffered(EhloCondition condition, SmtpServerOptions options, bool offerStartTls, string? authKeyword) =>
        condition switch
        {
            EhloCondition.Always => true,
            EhloCondition.DsnEnabled => options.EnableDsn,
            EhloCondition.TlsOffered => offerStartTls,
            EhloCondition.AuthOffered => authKeyword is not null,
            _ => throw new InvalidOperationException($"EHLO condition {condition} has no case"),
        };

    /// <summary>Writes text (already checked to hold no CR or LF) straight into the output as UTF-8.</summary>
    private static void WriteText(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}
