using System.Buffers;
using Smtpd.Parsing;
using Smtpd.Protocol.Commands;

namespace Smtpd.Tests.Support;

/// <summary>
/// The one way the command-parser tests parse a line: as given, and again after it travels (with its CRLF) through
/// <see cref="CommandLineReader"/> fed whole, line by line and byte by byte; every parse must read the same.
/// </summary>
public static class CommandFeeds
{
    /// <summary>Parses <paramref name="line"/> every way and returns the direct parse, once all of them agree.</summary>
    /// <param name="line">The command line without its CRLF.</param>
    /// <param name="parse">The parse under test, with its flags (SMTPUTF8, DSN, LMTP) already chosen.</param>
    /// <param name="lineLimit">The reader's line limit; RFC 3461's longest ORCPT needs more than the 512 default.</param>
    internal static SmtpCommand ParseEveryWay(byte[] line, Func<byte[], SmtpCommand> parse, int lineLimit = 512)
    {
        var direct = parse(line);
        var expected = Describe(direct);
        byte[] wire = [.. line, (byte)'\r', (byte)'\n'];
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var reader = new SequenceReader<byte>(Feed.AsSequence(wire, mode));
            Xunit.Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, lineLimit, out var read));
            Xunit.Assert.True(reader.End);
            Xunit.Assert.Equal(expected, Describe(parse(read.ToArray())));
        }

        return direct;
    }

    /// <summary>Everything a parsed command carries, as text, so two parses can be compared.</summary>
    internal static string Describe(SmtpCommand command) => command switch
    {
        InvalidCommand c => $"Invalid {c.Verb} {c.Reply}",
        HeloCommand c => $"Helo {c.Verb} {c.Domain} {c.IsExtended}",
        MailCommand c => $"Mail {c.Sender?.LocalPart}|{c.Sender?.Domain} {c.DeclaredSize} {c.Body} {c.SmtpUtf8} {c.DsnReturn} [{c.DsnEnvelopeId}]",
        RcptCommand c => $"Rcpt {c.Recipient.LocalPart}|{c.Recipient.Domain} {c.Recipient.Dsn?.Notify} [{c.Recipient.Dsn?.OriginalRecipientType}] [{c.Recipient.Dsn?.OriginalRecipient}]",
        BdatCommand c => $"Bdat {c.Size} {c.IsLast}",
        AuthCommand c => $"Auth {c.Mechanism} [{c.InitialResponse}]",
        _ => $"{command.GetType().Name} {command.Verb}",
    };
}
