using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Catcher.Pop3;

/// <summary>What the connection must do after a command line.</summary>
internal enum Pop3Step : byte
{
    /// <summary>Flush the responses and read the next line.</summary>
    Continue,

    /// <summary>Stream <see cref="Pop3Session.TakeTransfer"/> (after the <c>+OK</c> already written), then continue.</summary>
    SendMessage,

    /// <summary>Flush the <c>+OK</c> and run the TLS handshake (RFC 2595 section 4).</summary>
    StartTls,

    /// <summary>Flush the responses and close the connection.</summary>
    Close,
}

/// <summary>A message to stream after its <c>+OK</c>: RETR sends it whole, TOP its headers and some body lines.</summary>
/// <param name="Content">The exact content; the connection disposes it.</param>
/// <param name="BodyLines">How many body lines TOP asked for, or -1 for the whole message (RETR).</param>
internal sealed record Pop3Transfer(Stream Content, int BodyLines);

/// <summary>The fixed facts a session runs with.</summary>
/// <param name="Users">The users and passwords that log in; empty accepts anyone.</param>
/// <param name="TlsAvailable">Whether STLS can be offered (the catcher has a certificate).</param>
/// <param name="MaxLineLength">The longest command line, for the error text.</param>
/// <param name="MaxBadCommands">How many bad commands close the connection.</param>
/// <param name="MaxAuthFailures">How many failed logins close the connection.</param>
internal sealed record Pop3SessionSettings(IReadOnlyDictionary<string, string> Users, bool TlsAvailable, int MaxLineLength, int MaxBadCommands, int MaxAuthFailures);

/// <summary>
/// One POP3 session without any I/O of its own: it takes command lines and writes responses into an
/// <see cref="IBufferWriter{T}"/>, and tells the connection when to stream a message, start TLS or close. The
/// maildrop is reached through <see cref="IPop3MaildropSource"/>, so the whole protocol runs in a unit test.
/// </summary>
internal sealed class Pop3Session(Pop3SessionSettings settings, IPop3MaildropSource maildrops) : IDisposable
{
    private string? _user;
    private IPop3Maildrop? _maildrop;
    private bool[] _deleted = [];
    private Pop3Transfer? _transfer;
    private int _badCommands;
    private int _authFailures;

    /// <summary>Where the session stands.</summary>
    public Pop3State State { get; private set; } = Pop3State.Authorization;

    /// <summary>Whether TLS is in use (after STLS).</summary>
    public bool IsSecure { get; private set; }

    /// <summary>The authenticated user, once in TRANSACTION.</summary>
    public string? User => State >= Pop3State.Transaction ? _user : null;

    /// <summary>Writes the greeting (RFC 1939 section 4). It carries no APOP timestamp: APOP is not offered.</summary>
    /// <param name="output">The output.</param>
    public static void Greet(IBufferWriter<byte> output) => Pop3Replies.Ok(output, "smtpd POP3 server ready");

    /// <summary>Takes the message that <see cref="Pop3Step.SendMessage"/> asked to stream.</summary>
    /// <returns>The transfer.</returns>
    public Pop3Transfer TakeTransfer()
    {
        var transfer = _transfer ?? throw new InvalidOperationException("No message is waiting to be sent.");
        _transfer = null;
        return transfer;
    }

    /// <summary>Runs one command line.</summary>
    /// <param name="line">The line, without its LF (a CR before it is allowed).</param>
    /// <param name="output">Where the response goes.</param>
    /// <returns>What the connection does next.</returns>
    public Pop3Step Process(ReadOnlySpan<byte> line, IBufferWriter<byte> output)
    {
        if (State == Pop3State.AwaitingSaslResponse)
        {
            return SaslResponse(line, output);
        }

        var error = Pop3CommandParser.TryParse(line, out var command);
        if (error != Pop3ParseError.None)
        {
            return BadCommand(output, error switch
            {
                Pop3ParseError.UnknownCommand => "unknown command",
                Pop3ParseError.MissingArgument => "missing argument",
                Pop3ParseError.TooManyArguments => "too many arguments",
                Pop3ParseError.BadNumber => "not a valid message number or line count",
                _ => "bad argument",
            });
        }

        if (!Pop3CommandTable.IsAllowed(command.Verb, State))
        {
            return BadCommand(output, State == Pop3State.Transaction ? "command not valid after login" : State == Pop3State.AwaitingPassword ? "command not valid before PASS" : "command not valid before login");
        }

        return command.Verb switch
        {
            Pop3Verb.Capa => Capa(output),
            Pop3Verb.Quit => Quit(output),
            Pop3Verb.User => UserName(command.Text, output),
            Pop3Verb.Pass => Pass(command.Text, output),
            Pop3Verb.Auth => Auth(command, output),
            Pop3Verb.Stls => Stls(output),
            Pop3Verb.Stat => Stat(output),
            Pop3Verb.List => List(command.Message, output),
            Pop3Verb.Uidl => Uidl(command.Message, output),
            Pop3Verb.Retr => Retrieve(command.Message, -1, output),
            Pop3Verb.Top => Retrieve(command.Message, command.Lines, output),
            Pop3Verb.Dele => Delete(command.Message, output),
            Pop3Verb.Noop => Ok(output, "NOOP"),
            Pop3Verb.Rset => Reset(output),
            _ => BadCommand(output, "unknown command"),
        };
    }

    /// <summary>A line went over the limit; its remainder is being discarded by the connection.</summary>
    /// <param name="output">Where the response goes.</param>
    /// <returns>What the connection does next.</returns>
    public Pop3Step LineTooLong(IBufferWriter<byte> output)
    {
        if (State == Pop3State.AwaitingSaslResponse)
        {
            State = Pop3State.Authorization;
            return AuthFailed(output);
        }

        return BadCommand(output, $"line too long ({settings.MaxLineLength} octets at most, RFC 2449 section 4)");
    }

    /// <summary>The TLS handshake after STLS succeeded: nothing from before it is kept (RFC 2595 section 4).</summary>
    public void TlsEstablished()
    {
        IsSecure = true;
        _user = null;
        State = Pop3State.Authorization;
    }

    /// <summary>Releases the maildrop lock. Without QUIT nothing is removed (RFC 1939 section 6).</summary>
    public void Dispose()
    {
        _maildrop?.Dispose();
        _maildrop = null;
        _transfer?.Content.Dispose();
        _transfer = null;
    }

    private static Pop3Step Ok(IBufferWriter<byte> output, string text)
    {
        Pop3Replies.Ok(output, text);
        return Pop3Step.Continue;
    }

    private Pop3Step BadCommand(IBufferWriter<byte> output, string reason)
    {
        if (++_badCommands >= settings.MaxBadCommands)
        {
            Pop3Replies.Err(output, $"{reason}; too many bad commands, closing");
            return Pop3Step.Close;
        }

        Pop3Replies.Err(output, reason);
        return Pop3Step.Continue;
    }

    private Pop3Step Capa(IBufferWriter<byte> output)
    {
        // RFC 2449 section 6; the login mechanisms are listed only before login, STLS only while it can be used.
        output.Write("+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"u8);
        if (State != Pop3State.Transaction)
        {
            output.Write("USER\r\nSASL PLAIN\r\n"u8);
            if (settings.TlsAvailable && !IsSecure)
            {
                output.Write("STLS\r\n"u8);
            }
        }

        output.Write("IMPLEMENTATION smtpd\r\n"u8);
        output.Write(Pop3Replies.EndOfMultiLine);
        return Pop3Step.Continue;
    }

    private Pop3Step Quit(IBufferWriter<byte> output)
    {
        if (State != Pop3State.Transaction)
        {
            Pop3Replies.Ok(output, "smtpd POP3 server signing off");
            return Pop3Step.Close;
        }

        // RFC 1939 section 6: QUIT in TRANSACTION enters UPDATE, which removes the marked messages.
        State = Pop3State.Update;
        var marked = Marked();
        try
        {
            if (marked.Count > 0)
            {
                _maildrop!.Remove(marked);
            }
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or InvalidOperationException)
        {
            _maildrop!.Dispose();
            Pop3Replies.Err(output, "[SYS/TEMP] some deleted messages not removed");
            return Pop3Step.Close;
        }

        // RFC 1939 section 6: the lock is released once the UPDATE state is done.
        _maildrop!.Dispose();
        Pop3Replies.Ok(output, marked.Count == 0 ? "smtpd POP3 server signing off" : $"smtpd POP3 server signing off ({marked.Count} message(s) deleted)");
        return Pop3Step.Close;
    }

    private Pop3Step UserName(ReadOnlySpan<byte> name, IBufferWriter<byte> output)
    {
        // Whether the user exists is told only after PASS, so USER cannot be used to find user names.
        _user = Encoding.UTF8.GetString(name);
        State = Pop3State.AwaitingPassword;
        return Ok(output, "send PASS");
    }

    private Pop3Step Pass(ReadOnlySpan<byte> password, IBufferWriter<byte> output)
    {
        var user = _user!;
        _user = null;
        State = Pop3State.Authorization;
        return Login(user, password, output);
    }

    private Pop3Step Auth(Pop3Command command, IBufferWriter<byte> output)
    {
        if (command.Text.IsEmpty)
        {
            // A bare AUTH lists the mechanisms (the RFC 1734 form that clients still probe with).
            output.Write("+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n"u8);
            return Pop3Step.Continue;
        }

        if (!Ascii.EqualsIgnoreCase(command.Text, "PLAIN"u8))
        {
            return BadCommand(output, "unsupported SASL mechanism; PLAIN is offered");
        }

        _user = null;
        if (command.InitialResponse.IsEmpty)
        {
            // RFC 5034 section 4: an empty challenge, then the client's response on its own line.
            State = Pop3State.AwaitingSaslResponse;
            output.Write("+ \r\n"u8);
            return Pop3Step.Continue;
        }

        // "=" is an empty initial response (RFC 5034 section 4).
        return Plain(command.InitialResponse is [(byte)'='] ? [] : command.InitialResponse, output);
    }

    private Pop3Step SaslResponse(ReadOnlySpan<byte> line, IBufferWriter<byte> output)
    {
        State = Pop3State.Authorization;
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        if (line is [(byte)'*'])
        {
            // RFC 5034 section 4: the client cancelled the exchange.
            Pop3Replies.Err(output, "[AUTH] authentication cancelled");
            return Pop3Step.Continue;
        }

        return Plain(line, output);
    }

    /// <summary>
    /// The PLAIN message (RFC 4616 section 2): <c>[authzid] NUL authcid NUL passwd</c>, in base64. An authorization
    /// identity other than the user's own is refused: there is nobody to act for.
    /// </summary>
    private Pop3Step Plain(ReadOnlySpan<byte> base64, IBufferWriter<byte> output)
    {
        var rented = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(base64.Length) + 1);
        try
        {
            if (Base64.DecodeFromUtf8(base64, rented, out _, out var length) != OperationStatus.Done)
            {
                return AuthFailed(output);
            }

            var message = rented.AsSpan(0, length);
            var first = message.IndexOf((byte)0);
            var second = first < 0 ? -1 : message[(first + 1)..].IndexOf((byte)0);
            if (second < 0)
            {
                return AuthFailed(output);
            }

            var authorizationId = message[..first];
            var user = message.Slice(first + 1, second);
            var password = message[(first + 2 + second)..];
            if (!authorizationId.IsEmpty && !authorizationId.SequenceEqual(user))
            {
                return AuthFailed(output);
            }

            return Login(Encoding.UTF8.GetString(user), password, output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rented);
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private Pop3Step Login(string user, ReadOnlySpan<byte> password, IBufferWriter<byte> output)
    {
        if (!IsKnown(user, password))
        {
            return AuthFailed(output);
        }

        switch (maildrops.TryLock(user, out var maildrop))
        {
            case Pop3LockResult.InUse:
                // RFC 2449 section 8.1.1: the maildrop is locked by another session; not a failed login.
                Pop3Replies.Err(output, "[IN-USE] the maildrop is in use by another session");
                return Pop3Step.Continue;
            case Pop3LockResult.Unavailable:
                Pop3Replies.Err(output, "[SYS/TEMP] the store cannot be read now; try again");
                return Pop3Step.Continue;
        }

        _maildrop = maildrop!;
        _user = user;
        _deleted = new bool[_maildrop.Messages.Count];
        State = Pop3State.Transaction;
        output.Write("+OK "u8);
        Pop3Replies.Number(output, _maildrop.Messages.Count);
        output.Write(" message(s) in the maildrop\r\n"u8);
        return Pop3Step.Continue;
    }

    private bool IsKnown(string user, ReadOnlySpan<byte> password)
    {
        if (settings.Users.Count == 0)
        {
            return true;
        }

        if (!settings.Users.TryGetValue(user, out var expected))
        {
            return false;
        }

        var expectedBytes = Encoding.UTF8.GetBytes(expected);
        return CryptographicOperations.FixedTimeEquals(expectedBytes, password);
    }

    private Pop3Step AuthFailed(IBufferWriter<byte> output)
    {
        if (++_authFailures >= settings.MaxAuthFailures)
        {
            Pop3Replies.Err(output, "[AUTH] invalid user or password; too many failures, closing");
            return Pop3Step.Close;
        }

        // RFC 3206 section 3: [AUTH] says the credentials were wrong, not that the server failed.
        Pop3Replies.Err(output, "[AUTH] invalid user or password");
        return Pop3Step.Continue;
    }

    private Pop3Step Stls(IBufferWriter<byte> output)
    {
        if (!settings.TlsAvailable)
        {
            Pop3Replies.Err(output, "STLS is not available: the catcher has no certificate");
            return Pop3Step.Continue;
        }

        if (IsSecure)
        {
            // RFC 2595 section 4: STLS is not allowed once TLS is in use.
            Pop3Replies.Err(output, "TLS is already in use");
            return Pop3Step.Continue;
        }

        Pop3Replies.Ok(output, "begin TLS negotiation");
        return Pop3Step.StartTls;
    }

    private Pop3Step Stat(IBufferWriter<byte> output)
    {
        // RFC 1939 section 5: deleted messages are not counted.
        long count = 0, size = 0;
        var messages = _maildrop!.Messages;
        for (var i = 0; i < messages.Count; i++)
        {
            if (!_deleted[i])
            {
                count++;
                size += messages[i].Size;
            }
        }

        output.Write("+OK "u8);
        Pop3Replies.Pair(output, count, size);
        return Pop3Step.Continue;
    }

    private Pop3Step List(int number, IBufferWriter<byte> output) =>
        Listing(number, output, "+OK scan listing follows\r\n"u8, static (o, n, message) => Pop3Replies.Pair(o, n, message.Size));

    private Pop3Step Uidl(int number, IBufferWriter<byte> output) =>
        Listing(number, output, "+OK unique-id listing follows\r\n"u8, UniqueIdLine);

    /// <summary>
    /// LIST and UIDL (RFC 1939 sections 5 and 7): with a number, one <c>+OK</c> line for that message; without, a
    /// multi-line listing of every message not marked as deleted.
    /// </summary>
    private Pop3Step Listing(int number, IBufferWriter<byte> output, ReadOnlySpan<byte> header, Action<IBufferWriter<byte>, int, Pop3Message> line)
    {
        var messages = _maildrop!.Messages;
        if (number != 0)
        {
            if (TryFind(number, output))
            {
                output.Write("+OK "u8);
                line(output, number, messages[number - 1]);
            }

            return Pop3Step.Continue;
        }

        output.Write(header);
        for (var i = 0; i < messages.Count; i++)
        {
            if (!_deleted[i])
            {
                line(output, i + 1, messages[i]);
            }
        }

        output.Write(Pop3Replies.EndOfMultiLine);
        return Pop3Step.Continue;
    }

    private static void UniqueIdLine(IBufferWriter<byte> output, int number, Pop3Message message)
    {
        Pop3Replies.Number(output, number);
        output.Write(" "u8);
        Pop3Replies.Ascii(output, message.UniqueId);
        output.Write(Pop3Replies.CrLf);
    }

    private Pop3Step Retrieve(int number, int bodyLines, IBufferWriter<byte> output)
    {
        if (!TryFind(number, output))
        {
            return Pop3Step.Continue;
        }

        var message = _maildrop!.Messages[number - 1];
        Stream? content;
        try
        {
            content = _maildrop.Open(message);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or InvalidOperationException)
        {
            // RFC 3206 section 4: a transient failure of the server, not of the client's command.
            Pop3Replies.Err(output, "[SYS/TEMP] the store cannot be read now; try again");
            return Pop3Step.Continue;
        }

        if (content is null)
        {
            Pop3Replies.Err(output, "[SYS/PERM] the message was removed from the store by other means");
            return Pop3Step.Continue;
        }

        output.Write("+OK "u8);
        Pop3Replies.Number(output, message.Size);
        output.Write(" octets\r\n"u8);
        _transfer = new Pop3Transfer(content, bodyLines);
        return Pop3Step.SendMessage;
    }

    private Pop3Step Delete(int number, IBufferWriter<byte> output)
    {
        if (!TryFind(number, output))
        {
            return Pop3Step.Continue;
        }

        // RFC 1939 section 5: DELE only marks; the message goes in the UPDATE state.
        _deleted[number - 1] = true;
        return Ok(output, "message marked as deleted");
    }

    private Pop3Step Reset(IBufferWriter<byte> output)
    {
        Array.Clear(_deleted);
        output.Write("+OK "u8);
        Pop3Replies.Number(output, _deleted.Length);
        output.Write(" message(s) in the maildrop\r\n"u8);
        return Pop3Step.Continue;
    }

    /// <summary>RFC 1939 section 5: a number out of range, or of a message marked as deleted, is an error.</summary>
    private bool TryFind(int number, IBufferWriter<byte> output)
    {
        if (number > _deleted.Length)
        {
            Pop3Replies.Err(output, "no such message");
            return false;
        }

        if (_deleted[number - 1])
        {
            Pop3Replies.Err(output, "message already deleted");
            return false;
        }

        return true;
    }

    private List<Pop3Message> Marked()
    {
        var marked = new List<Pop3Message>();
        for (var i = 0; i < _deleted.Length; i++)
        {
            if (_deleted[i])
            {
                marked.Add(_maildrop!.Messages[i]);
            }
        }

        return marked;
    }
}
