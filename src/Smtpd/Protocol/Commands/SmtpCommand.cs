namespace Smtpd.Protocol.Commands;

/// <summary>
/// A parsed command line. Each verb has its own small sealed type; commands without arguments are singletons,
/// so parsing NOOP, RSET, DATA or QUIT allocates nothing.
/// </summary>
internal abstract class SmtpCommand
{
    protected SmtpCommand(SmtpVerb verb) => Verb = verb;

    /// <summary>The verb, used to look the command up in <see cref="SmtpStateTable"/>.</summary>
    public SmtpVerb Verb { get; }
}

/// <summary>A line whose verb is known but whose arguments break the grammar; carries the 5xx reply to send.</summary>
internal sealed class InvalidCommand(SmtpVerb verb, SmtpReply reply) : SmtpCommand(verb)
{
    public SmtpReply Reply { get; } = reply;
}

/// <summary>A line with an unrecognized verb (RFC 5321 4.2.4: 500).</summary>
internal sealed class UnknownCommand : SmtpCommand
{
    public static readonly UnknownCommand Instance = new();

    private UnknownCommand()
        : base(SmtpVerb.Unknown)
    {
    }
}

/// <summary><c>HELO domain</c> or <c>EHLO domain</c> (RFC 5321 4.1.1.1), or <c>LHLO domain</c> on an LMTP listener (RFC 2033 4.1).</summary>
internal sealed class HeloCommand(string domain, SmtpVerb verb) : SmtpCommand(verb)
{
    public string Domain { get; } = domain;

    /// <summary>Whether service extensions were asked for: EHLO, and LHLO, which has the semantics of EHLO (RFC 2033 4.1).</summary>
    public bool IsExtended => Verb != SmtpVerb.Helo;
}

/// <summary><c>MAIL FROM:&lt;reverse-path&gt; [parameters]</c> (RFC 5321 4.1.1.2).</summary>
internal sealed class MailCommand() : SmtpCommand(SmtpVerb.Mail)
{
    /// <summary>The reverse-path; <see langword="null"/> for the null path <c>&lt;&gt;</c>.</summary>
    public SmtpMailbox? Sender { get; private set; }

    /// <summary>The RFC 1870 SIZE parameter; <see cref="long.MaxValue"/> when the declared number overflows.</summary>
    public long? DeclaredSize { get; private set; }

    public SmtpBodyType Body { get; private set; }

    public bool SmtpUtf8 { get; private set; }

    /// <summary>The RFC 3461 RET parameter.</summary>
    public SmtpDsnReturn DsnReturn { get; private set; }

    /// <summary>The RFC 3461 ENVID parameter, decoded; <see langword="null"/> when absent.</summary>
    public string? DsnEnvelopeId { get; private set; }

    /// <summary>Fills this (possibly reused, see <see cref="Parsing.CommandCache"/>) command with one line's values.</summary>
    public MailCommand Set(SmtpMailbox? sender, long? declaredSize, SmtpBodyType body, bool smtpUtf8, SmtpDsnReturn dsnReturn, string? dsnEnvelopeId)
    {
        Sender = sender;
        DeclaredSize = declaredSize;
        Body = body;
        SmtpUtf8 = smtpUtf8;
        DsnReturn = dsnReturn;
        DsnEnvelopeId = dsnEnvelopeId;
        return this;
    }
}

/// <summary><c>RCPT TO:&lt;forward-path&gt; [parameters]</c> (RFC 5321 4.1.1.3); the DSN parameters are on <see cref="SmtpMailbox.Dsn"/>.</summary>
internal sealed class RcptCommand() : SmtpCommand(SmtpVerb.Rcpt)
{
    public SmtpMailbox Recipient { get; private set; } = null!;

    /// <summary>Fills this (possibly reused) command with one line's recipient.</summary>
    public RcptCommand Set(SmtpMailbox recipient)
    {
        Recipient = recipient;
        return this;
    }
}

/// <summary><c>BDAT chunk-size [LAST]</c> (RFC 3030 section 2).</summary>
internal sealed class BdatCommand() : SmtpCommand(SmtpVerb.Bdat)
{
    public long Size { get; private set; }

    public bool IsLast { get; private set; }

    /// <summary>Fills this (possibly reused) command with one line's chunk size and end marker.</summary>
    public BdatCommand Set(long size, bool isLast)
    {
        Size = size;
        IsLast = isLast;
        return this;
    }
}

internal sealed class DataCommand : SmtpCommand
{
    public static readonly DataCommand Instance = new();

    private DataCommand()
        : base(SmtpVerb.Data)
    {
    }
}

/// <summary><c>RSET</c> (RFC 5321 4.1.1.5).</summary>
internal sealed class RsetCommand : SmtpCommand
{
    public static readonly RsetCommand Instance = new();

    private RsetCommand()
        : base(SmtpVerb.Rset)
    {
    }
}

/// <summary><c>NOOP [string]</c> (RFC 5321 4.1.1.9); the argument is ignored.</summary>
internal sealed class NoopCommand : SmtpCommand
{
    public static readonly NoopCommand Instance = new();

    private NoopCommand()
        : base(SmtpVerb.Noop)
    {
    }
}

/// <summary><c>QUIT</c> (RFC 5321 4.1.1.10).</summary>
internal sealed class QuitCommand : SmtpCommand
{
    public static readonly QuitCommand Instance = new();

    private QuitCommand()
        : base(SmtpVerb.Quit)
    {
    }
}

/// <summary><c>VRFY string</c> (RFC 5321 4.1.1.6); always answered 252, so the argument is not kept.</summary>
internal sealed class VrfyCommand : SmtpCommand
{
    public static readonly VrfyCommand Instance = new();

    private VrfyCommand()
        : base(SmtpVerb.Vrfy)
    {
    }
}

/// <summary><c>EXPN string</c> (RFC 5321 4.1.1.7); not supported, answered 502.</summary>
internal sealed class ExpnCommand : SmtpCommand
{
    public static readonly ExpnCommand Instance = new();

    private ExpnCommand()
        : base(SmtpVerb.Expn)
    {
    }
}

/// <summary><c>HELP [string]</c> (RFC 5321 4.1.1.8).</summary>
internal sealed class HelpCommand : SmtpCommand
{
    public static readonly HelpCommand Instance = new();

    private HelpCommand()
        : base(SmtpVerb.Help)
    {
    }
}

/// <summary><c>STARTTLS</c> (RFC 3207 4).</summary>
internal sealed class StartTlsCommand : SmtpCommand
{
    public static readonly StartTlsCommand Instance = new();

    private StartTlsCommand()
        : base(SmtpVerb.StartTls)
    {
    }
}

/// <summary><c>AUTH mechanism [initial-response]</c> (RFC 4954 4).</summary>
internal sealed class AuthCommand(string mechanism, string? initialResponse) : SmtpCommand(SmtpVerb.Auth)
{
    /// <summary>The mechanism name, upper case.</summary>
    public string Mechanism { get; } = mechanism;

    /// <summary>The base64 initial response; "=" stands for an empty one; <see langword="null"/> when absent.</summary>
    public string? InitialResponse { get; } = initialResponse;
}

/// <summary>
/// An HTTP request line sent to the SMTP port, as a browser or a server-side request forgery would. Like Postfix's
/// <c>smtpd_forbidden_commands</c>, it ends the session at once, so no line of the request body is run as SMTP.
/// </summary>
internal sealed class ForbiddenCommand : SmtpCommand
{
    public static readonly ForbiddenCommand Instance = new();

    private ForbiddenCommand()
        : base(SmtpVerb.Forbidden)
    {
    }
}
