using BenchmarkDotNet.Attributes;
using Smtpd.Parsing;

namespace Smtpd.Benchmarks;

/// <summary>Parsing one command line, verb dispatch included. Argument-less commands must allocate nothing.</summary>
[MemoryDiagnoser]
public class CommandParsingBenchmarks
{
    private static readonly byte[] Noop = "NOOP\r\n"u8.ToArray();
    private static readonly byte[] Rset = "RSET\r\n"u8.ToArray();
    private static readonly byte[] Data = "DATA\r\n"u8.ToArray();
    private static readonly byte[] Bdat = "BDAT 1024 LAST\r\n"u8.ToArray();
    private static readonly byte[] Mail = "MAIL FROM:<sender@example.com> SIZE=1024 BODY=8BITMIME\r\n"u8.ToArray();
    private static readonly byte[] Rcpt = "RCPT TO:<recipient@example.org>\r\n"u8.ToArray();
    private static readonly byte[] MailDsn = "MAIL FROM:<sender@example.com> SIZE=1024 RET=HDRS ENVID=QQ314159\r\n"u8.ToArray();
    private static readonly byte[] RcptDsn = "RCPT TO:<recipient@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;recipient@example.org\r\n"u8.ToArray();
    private static readonly byte[] Unknown = "XYZZY plugh\r\n"u8.ToArray();

    // What a session passes: its reusable commands and recent mailboxes (a client repeating its paths, as bulk
    // senders and smtp-source do). Warm after the first iteration, so the steady state is what is measured.
    private readonly CommandCache _session = new();

    [Benchmark]
    public object ParseNoop() => CommandParser.Parse(Noop.AsSpan(0, Noop.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseRset() => CommandParser.Parse(Rset.AsSpan(0, Rset.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseData() => CommandParser.Parse(Data.AsSpan(0, Data.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseUnknown() => CommandParser.Parse(Unknown.AsSpan(0, Unknown.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseBdat() => CommandParser.Parse(Bdat.AsSpan(0, Bdat.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseMail() => CommandParser.Parse(Mail.AsSpan(0, Mail.Length - 1), smtpUtf8: false);

    [Benchmark]
    public object ParseRcpt() => CommandParser.Parse(Rcpt.AsSpan(0, Rcpt.Length - 1), smtpUtf8: false);

    /// <summary>MAIL with the RFC 3461 parameters: ENVID costs its decoded string.</summary>
    [Benchmark]
    public object ParseMailWithDsn() => CommandParser.Parse(MailDsn.AsSpan(0, MailDsn.Length - 1), smtpUtf8: false, dsn: true);

    /// <summary>RCPT with NOTIFY and ORCPT: one SmtpRecipientDsn and the two ORCPT strings.</summary>
    [Benchmark]
    public object ParseRcptWithDsn() => CommandParser.Parse(RcptDsn.AsSpan(0, RcptDsn.Length - 1), smtpUtf8: false, dsn: true);

    /// <summary>MAIL as a session parses it: the reused command and the sender's cached mailbox. Must allocate 0 B.</summary>
    [Benchmark]
    public object ParseMailInSession() => CommandParser.Parse(Mail.AsSpan(0, Mail.Length - 1), smtpUtf8: false, dsn: false, _session);

    /// <summary>RCPT as a session parses it. Must allocate 0 B.</summary>
    [Benchmark]
    public object ParseRcptInSession() => CommandParser.Parse(Rcpt.AsSpan(0, Rcpt.Length - 1), smtpUtf8: false, dsn: false, _session);

    /// <summary>BDAT as a session parses it. Must allocate 0 B.</summary>
    [Benchmark]
    public object ParseBdatInSession() => CommandParser.Parse(Bdat.AsSpan(0, Bdat.Length - 1), smtpUtf8: false, dsn: false, _session);
}
