using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>
/// One row of <see cref="SmtpProtocol.CommandTable"/>: everything the session knows about a verb once the parser has
/// made a command of it. The verb's name, the states that accept it, its handler, whether it is served before TLS
/// and the EHLO keyword that announces it are declared together, so a command cannot be half added.
/// </summary>
/// <param name="verb">The verb this row serves.</param>
/// <param name="name">The verb as the client writes it, for the 503 texts and <see cref="SmtpServerOptions.FilterCommand"/>.</param>
/// <param name="states">The states that accept the verb; every other state gets a 503 built by <see cref="SmtpStateTable"/>.</param>
/// <param name="handler">
/// Runs the command once the state (and, with <see cref="SmtpServerOptions.RequireTls"/>, TLS) allows it; writes its
/// replies and returns <see langword="true"/> when the session must close. A handler never checks the state itself.
/// </param>
internal sealed class SmtpCommandRow(SmtpVerb verb, string name, SessionStates states, Func<SmtpProtocol, SmtpCommand, ValueTask<bool>> handler)
{
    /// <summary>The verb this row serves.</summary>
    public SmtpVerb Verb { get; } = verb;

    /// <summary>The verb as the client writes it.</summary>
    public string Name { get; } = name;

    /// <summary>The states that accept the verb.</summary>
    public SessionStates States { get; } = states;

    /// <summary>The command's handler; <see langword="true"/> when the session must close.</summary>
    public Func<SmtpProtocol, SmtpCommand, ValueTask<bool>> Handler { get; } = handler;

    /// <summary>
    /// Whether the verb is served in plaintext when <see cref="SmtpServerOptions.RequireTls"/> is set: RFC 3207 4 lets
    /// the server refuse everything but the commands needed to start TLS or leave.
    /// </summary>
    public bool AllowedBeforeTls { get; init; }

    /// <summary>
    /// The EHLO keyword that announces the command, with the condition under which it is advertised, if the
    /// command is a service extension. Its <see cref="EhloKeyword.Verb"/> is this row's verb, whatever the row says.
    /// </summary>
    public EhloKeyword? Ehlo { get; init; }
}
