using System.Runtime.CompilerServices;

namespace Smtpd.Fuzz;

/// <summary>
/// The library's internal parsers, reached with .NET 10's <see cref="UnsafeAccessorAttribute"/> and
/// <see cref="UnsafeAccessorTypeAttribute"/>: no <c>InternalsVisibleTo</c> for the fuzzers, no reflection on the hot
/// path, and a signature mismatch fails loudly at the first call (see <c>Program.SelfCheck</c>).
/// </summary>
internal static class Internals
{
    private const string CommandParserType = "Smtpd.Parsing.CommandParser, Smtpd";
    private const string SmtpCommandType = "Smtpd.Protocol.Commands.SmtpCommand, Smtpd";
    private const string DataDecoderType = "Smtpd.Parsing.DataDecoder, Smtpd";
    private const string MessageBufferType = "Smtpd.IO.MessageBuffer, Smtpd";

    /// <summary><c>CommandParser.Parse(line, smtpUtf8)</c>: an <c>SmtpCommand</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "Parse")]
    [return: UnsafeAccessorType(SmtpCommandType)]
    public static extern object Parse([UnsafeAccessorType(CommandParserType)] object? type, ReadOnlySpan<byte> line, bool smtpUtf8);

    /// <summary><c>CommandParser.Parse(line, smtpUtf8, dsn)</c>: an <c>SmtpCommand</c>, with the RFC 3461 parameters on or off.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "Parse")]
    [return: UnsafeAccessorType(SmtpCommandType)]
    public static extern object Parse([UnsafeAccessorType(CommandParserType)] object? type, ReadOnlySpan<byte> line, bool smtpUtf8, bool dsn);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_DsnEnvelopeId")]
    public static extern string? MailDsnEnvelopeId([UnsafeAccessorType("Smtpd.Protocol.Commands.MailCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Sender")]
    public static extern SmtpMailbox? MailSender([UnsafeAccessorType("Smtpd.Protocol.Commands.MailCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_DeclaredSize")]
    public static extern long? MailDeclaredSize([UnsafeAccessorType("Smtpd.Protocol.Commands.MailCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_SmtpUtf8")]
    public static extern bool MailSmtpUtf8([UnsafeAccessorType("Smtpd.Protocol.Commands.MailCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Recipient")]
    public static extern SmtpMailbox RcptRecipient([UnsafeAccessorType("Smtpd.Protocol.Commands.RcptCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Reply")]
    public static extern SmtpReply InvalidReply([UnsafeAccessorType("Smtpd.Protocol.Commands.InvalidCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Domain")]
    public static extern string HeloDomain([UnsafeAccessorType("Smtpd.Protocol.Commands.HeloCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Size")]
    public static extern long BdatSize([UnsafeAccessorType("Smtpd.Protocol.Commands.BdatCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Mechanism")]
    public static extern string AuthMechanism([UnsafeAccessorType("Smtpd.Protocol.Commands.AuthCommand, Smtpd")] object command);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_InitialResponse")]
    public static extern string? AuthInitialResponse([UnsafeAccessorType("Smtpd.Protocol.Commands.AuthCommand, Smtpd")] object command);

    /// <summary><c>new DataDecoder(policy, maxLineLength)</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType(DataDecoderType)]
    public static extern object NewDataDecoder(BareLineEndingPolicy policy, int maxLineLength);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Decode")]
    public static extern int Decode([UnsafeAccessorType(DataDecoderType)] object decoder, ReadOnlySpan<byte> input, [UnsafeAccessorType(MessageBufferType)] object output);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_IsDone")]
    public static extern bool IsDone([UnsafeAccessorType(DataDecoderType)] object decoder);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_SawBareLineEnding")]
    public static extern bool SawBareLineEnding([UnsafeAccessorType(DataDecoderType)] object decoder);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_SawLongLine")]
    public static extern bool SawLongLine([UnsafeAccessorType(DataDecoderType)] object decoder);

    /// <summary><c>new MessageBuffer(memoryThreshold, maxLength, spoolDirectory)</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType(MessageBufferType)]
    public static extern object NewMessageBuffer(int memoryThreshold, long maxLength, string? spoolDirectory);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Write")]
    public static extern void Write([UnsafeAccessorType(MessageBufferType)] object buffer, ReadOnlySpan<byte> data);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Complete")]
    public static extern void Complete([UnsafeAccessorType(MessageBufferType)] object buffer);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "OpenRead")]
    public static extern Stream OpenRead([UnsafeAccessorType(MessageBufferType)] object buffer);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ReceivedLength")]
    public static extern long ReceivedLength([UnsafeAccessorType(MessageBufferType)] object buffer);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Overflowed")]
    public static extern bool Overflowed([UnsafeAccessorType(MessageBufferType)] object buffer);
    private const string SearchQueryType = "Smtpd.Catcher.Search.SearchQuery, Smtpd.Catcher";

    /// <summary><c>StoreSchema.OpenInMemory()</c>: an empty in-memory database with the catcher store's schema.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "OpenInMemory")]
    public static extern Microsoft.Data.Sqlite.SqliteConnection OpenStoreInMemory([UnsafeAccessorType("Smtpd.Catcher.Storage.StoreSchema, Smtpd.Catcher")] object? type);
    private const string CompiledSearchType = "Smtpd.Catcher.Search.CompiledSearch, Smtpd.Catcher";

    /// <summary><c>SearchQuery.Parse(text, limits)</c>: a <c>SearchQuery</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "Parse")]
    [return: UnsafeAccessorType(SearchQueryType)]
    public static extern object ParseSearch([UnsafeAccessorType(SearchQueryType)] object? type, string text, [UnsafeAccessorType("Smtpd.Catcher.Search.SearchLimits, Smtpd.Catcher")] object? limits);

    /// <summary><c>SqliteSearchCompiler.Compile(query, timeZone)</c>: a <c>CompiledSearch</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "Compile")]
    [return: UnsafeAccessorType(CompiledSearchType)]
    public static extern object CompileSearch([UnsafeAccessorType("Smtpd.Catcher.Search.SqliteSearchCompiler, Smtpd.Catcher")] object? type, [UnsafeAccessorType(SearchQueryType)] object query, TimeZoneInfo timeZone);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Where")]
    public static extern string SearchWhere([UnsafeAccessorType(CompiledSearchType)] object search);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Parameters")]
    public static extern IReadOnlyList<KeyValuePair<string, object>> SearchParameters([UnsafeAccessorType(CompiledSearchType)] object search);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Position")]
    public static extern int SearchErrorPosition([UnsafeAccessorType("Smtpd.Catcher.Search.SearchSyntaxException, Smtpd.Catcher")] object exception);

    private const string InMemorySessionType = "Smtpd.Sessions.InMemorySmtpSession, Smtpd";

    /// <summary><c>new InMemorySmtpSession(options, lmtp, logger, time, remoteEndPoint)</c>: a session with no socket.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType(InMemorySessionType)]
    public static extern object NewInMemorySession(SmtpServerOptions options, bool lmtp, Microsoft.Extensions.Logging.ILogger? logger, TimeProvider? time, System.Net.IPEndPoint? remoteEndPoint);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "StartAsync")]
    public static extern ValueTask Start([UnsafeAccessorType(InMemorySessionType)] object session);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "WriteAsync")]
    public static extern ValueTask Feed([UnsafeAccessorType(InMemorySessionType)] object session, ReadOnlyMemory<byte> input);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_IsClosed")]
    public static extern bool IsClosed([UnsafeAccessorType(InMemorySessionType)] object session);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "TakeReplyBytes")]
    public static extern byte[] TakeReplyBytes([UnsafeAccessorType(InMemorySessionType)] object session);
}
