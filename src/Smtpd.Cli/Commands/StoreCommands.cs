using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.CommandLine.Parsing;
using MimeKit;
using MimeKit.Utils;
using Smtpd.Cli.Configuration;
using Smtpd.Cli.Output;
using Smtpd.Catcher;
using Smtpd.Catcher.Storage;

namespace Smtpd.Cli.Commands;

/// <summary>The commands on the store: list, show, export, delete and clear.</summary>
internal static class StoreCommands
{
    /// <summary>Adds the store commands to <paramref name="root"/>.</summary>
    /// <param name="root">The root command.</param>
    /// <param name="context">Where output goes.</param>
    public static void Add(Command root, CommandContext context)
    {
        root.Subcommands.Add(List(context));
        root.Subcommands.Add(Show(context));
        root.Subcommands.Add(Export(context));
        root.Subcommands.Add(Delete(context));
        root.Subcommands.Add(Clear(context));
    }

    private static Func<System.CommandLine.ParseResult, string> AddStoreFlags(Command command, CommandContext context)
    {
        var options = CatcherCommand.AddFlags(command, [Flags.Db, Flags.Config]);
        // A PostgreSQL URL or connection string is passed on as it is; a SQLite path is made full.
        return parse => SettingSources.Load(parse, options, context.Environment).Get(Flags.Db)?.Value is { Length: > 0 } db
            ? (Smtpd.Catcher.Storage.Postgres.PostgresConnection.IsPostgres(db) ? db : Path.GetFullPath(db))
            : DefaultPaths.Database;
    }

    private static Command List(CommandContext context)
    {
        var from = new Option<string>("--from") { Description = "Only messages whose sender or From header contains this text (any case).", HelpName = "TEXT" };
        var to = new Option<string>("--to") { Description = "Only messages with a recipient or To header containing this text.", HelpName = "TEXT" };
        var subject = new Option<string>("--subject") { Description = "Only messages whose subject contains this text.", HelpName = "TEXT" };
        var since = new Option<string>("--since") { Description = "Only messages received since a time (2025-01-31T14:00) or for a duration back (10m, 2h, 1d).", HelpName = "WHEN" };
        var query = new Option<string>("--query") { Description = "Only messages a search matches, in Mailpit's search syntax (docs/search.md), e.g. 'from:shop subject:\"your order\" -is:read'.", HelpName = "QUERY" };
        var limit = new Option<int>("--limit") { Description = "Show at most N messages (default: all).", HelpName = "N", CustomParser = ParseLimit };
        var mailbox = new Option<string>("--mailbox") { Description = "Only messages routed to this named mailbox (the catcher's --mailbox); default: every message.", HelpName = "NAME" };
        var json = new Option<bool>("--json") { Description = "Print a JSON array instead of a table." };
        var command = new Command("list", "List stored messages, newest first.") { from, to, subject, since, query, limit, mailbox, json };
        var db = AddStoreFlags(command, context);
        command.SetAction(parse =>
        {
            var sinceValue = parse.GetValue(since) is { } text ? ValueParsers.ParseSince(text, "--since", DateTimeOffset.Now) : (DateTimeOffset?)null;
            var limitValue = parse.GetValue(limit);
            var compiler = StoreAccess.CompilerFor(db(parse));
            var compiled = Compile(compiler, parse.GetValue(query));
            if (MailboxName(parse.GetValue(mailbox)) is { } box)
            {
                compiled = Smtpd.Catcher.Mailboxes.MailboxScope.And(compiler.Mailbox(box), compiled);
            }

            using var store = StoreAccess.OpenExisting(db(parse), readOnly: true);
            var messages = store.List(new MessageFilter(parse.GetValue(from), parse.GetValue(to), parse.GetValue(subject), sinceValue, limitValue, compiled));
            if (parse.GetValue(json))
            {
                WriteJsonList(context.StdoutStream, messages);
                return 0;
            }

            var output = context.Out;
            // Columns are measured in terminal cells (Terminal.Fit), not characters, so wide text keeps them aligned.
            output.WriteLine($"{"ID",-8} {"RECEIVED",-26} {"FROM",-30} {"TO",-30} {"SUBJECT",-40} {"SIZE",9}");
            foreach (var m in messages)
            {
                var recipients = m.Recipients.Count == 0 ? "" : m.Recipients[0] + (m.Recipients.Count > 1 ? $" (+{m.Recipients.Count - 1})" : "");
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{m.Id,-8} {Terminal.Time(m.ReceivedAt),-26} {Terminal.Fit(m.MailFrom.Length == 0 ? "<>" : m.MailFrom, 30)} {Terminal.Fit(recipients, 30)} {Terminal.Fit(m.Subject ?? "(no subject)", 40)} {Terminal.Size(m.Size),9}"));
            }

            if (messages.Count == 0)
            {
                output.WriteLine("(no messages)");
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// Compiles <c>--query</c> with the HTTP API's compiler, so both answer a query alike; dates without a zone are
    /// in the machine's local zone, as <c>list</c> prints times. A bad query is a usage error (exit 2) with the
    /// compiler's one-line reason.
    /// </summary>
    private static CompiledQuery? Compile(IMessageQueryCompiler compiler, string? query)
    {
        if (string.IsNullOrWhiteSpace(query))
        {
            return null;
        }

        try
        {
            return compiler.Compile(query.Trim(), TimeZoneInfo.Local);
        }
        catch (MessageQueryException ex)
        {
            throw new SettingException("--query", ex.Message);
        }
    }

    private static Command Show(CommandContext context)
    {
        var id = new Argument<long>("ID") { Description = "The message id, as list shows it.", CustomParser = result => ParseId(result.Tokens[0].Value, result) };
        var raw = new Option<bool>("--raw") { Description = "Print the exact bytes as received." };
        var html = new Option<bool>("--html") { Description = "Print the HTML part." };
        var saveAttachments = new Option<string>("--save-attachments") { Description = "Also save the attachments into DIR (created if needed); existing files are kept, a new name is chosen instead.", HelpName = "DIR" };
        var command = new Command("show", "Show a stored message: envelope, every header, the text body and the attachments.") { id, raw, html, saveAttachments };
        var db = AddStoreFlags(command, context);
        command.SetAction(async (parse, ct) =>
        {
            using var store = StoreAccess.OpenExisting(db(parse), readOnly: true);
            var message = store.Find(parse.GetValue(id));
            if (message is null)
            {
                context.Fail($"no message {parse.GetValue(id)}");
                return 1;
            }

            if (parse.GetValue(raw))
            {
                await using var rawContent = store.OpenContent(message);
                await rawContent.CopyToAsync(context.StdoutStream, ct);
                await context.StdoutStream.FlushAsync(ct);
                return 0;
            }

            // The header block as received, in order: MimeKit's MimeMessage keeps Content-* headers on its body.
            HeaderList? headers = null;
            await using (var headerContent = store.OpenContent(message))
            {
                try
                {
                    headers = await HeaderList.LoadAsync(headerContent, ct);
                }
                catch (FormatException)
                {
                    // Not MIME: the envelope is still worth showing, and --raw has the bytes.
                }
            }

            await using var content = store.OpenContent(message);
            MimeMessage? mime = null;
            try
            {
                mime = await MimeMessage.LoadAsync(content, persistent: true, ct);
            }
            catch (FormatException)
            {
            }

            using (mime)
            {
                if (parse.GetValue(html))
                {
                    if (mime?.HtmlBody is not { } body)
                    {
                        context.Fail($"message {message.Id} has no HTML part");
                        return 1;
                    }

                    await context.Out.WriteAsync(body);
                    return 0;
                }

                var attachments = mime is null ? [] : ShownAttachment.All(mime);
                WriteShow(context.Out, message, headers, mime, attachments);
                if (parse.GetValue(saveAttachments) is { } directory)
                {
                    return await SaveAttachmentsAsync(context, directory, attachments, ct);
                }
            }

            return 0;
        });
        return command;
    }

    private static Command Export(CommandContext context)
    {
        var ids = IdsArgument("The ids to export.", ArgumentArity.ZeroOrMore);
        var all = new Option<bool>("--all") { Description = "Export every message." };
        var outDir = new Option<string>("--out") { Description = "The directory for the .eml files (created if needed; default: the current directory).", HelpName = "DIR", DefaultValueFactory = _ => "." };
        var command = new Command("export", "Write stored messages as ID.eml files, byte for byte as received.") { ids, all, outDir };
        var db = AddStoreFlags(command, context);
        command.SetAction(async (parse, ct) =>
        {
            var wanted = parse.GetValue(ids) ?? [];
            if (wanted.Length == 0 == !parse.GetValue(all))
            {
                throw new SettingException("export", "give message ids or --all (not both)");
            }

            var directory = parse.GetValue(outDir)!;
            try
            {
                Directory.CreateDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new SettingException("--out", $"cannot create {directory}: {ex.Message}");
            }

            using var store = StoreAccess.OpenExisting(db(parse), readOnly: true);
            var exitCode = 0;
            var count = 0;
            foreach (var messageId in parse.GetValue(all) ? store.AllIds() : wanted)
            {
                if (store.Find(messageId) is not { } message)
                {
                    context.Fail($"no message {messageId}");
                    exitCode = 1;
                    continue;
                }

                var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"{message.Id}.eml"));
                await using (var content = store.OpenContent(message))
                await using (var file = File.Create(path))
                {
                    await content.CopyToAsync(file, ct);
                }

                count++;
            }

            await context.Out.WriteLineAsync($"exported {count} message(s) to {Path.GetFullPath(directory)}");
            return exitCode;
        });
        return command;
    }

    private static Command Delete(CommandContext context)
    {
        var ids = IdsArgument("The ids to delete.", ArgumentArity.OneOrMore);
        var command = new Command("delete", "Delete stored messages.") { ids };
        var db = AddStoreFlags(command, context);
        command.SetAction(parse =>
        {
            var wanted = parse.GetValue(ids) ?? [];
            using var store = StoreAccess.OpenExisting(db(parse), readOnly: false);
            var deleted = store.Delete(wanted);
            foreach (var missing in wanted.Except(deleted))
            {
                context.Fail($"no message {missing}");
            }

            context.Out.WriteLine($"deleted {deleted.Count} message(s)");
            return deleted.Count == wanted.Distinct().Count() ? 0 : 1;
        });
        return command;
    }

    private static Command Clear(CommandContext context)
    {
        var command = new Command("clear", "Delete every stored message.");
        var db = AddStoreFlags(command, context);
        command.SetAction(parse =>
        {
            using var store = StoreAccess.OpenExisting(db(parse), readOnly: false);
            context.Out.WriteLine($"deleted {store.Clear()} message(s)");
            return 0;
        });
        return command;
    }

    /// <summary>An <c>ID</c> argument that takes several ids, each checked by <see cref="ParseId"/>.</summary>
    private static Argument<long[]> IdsArgument(string description, ArgumentArity arity) => new("ID")
    {
        Description = description,
        Arity = arity,
        CustomParser = result => result.Tokens.Select(t => ParseId(t.Value, result)).ToArray(),
    };

    /// <summary>Parses a message id; a bad one is a parse error in the user's words, not a .NET type name.</summary>
    private static long ParseId(string text, ArgumentResult result)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
        {
            return id;
        }

        result.AddError($"ID: '{text}' is not a message id; use the number list shows, e.g. 1");
        return 0;
    }

    /// <summary>
    /// Checks a <c>--mailbox</c> name (the store commands read the store, not the catcher's rules, so a valid name
    /// that no message was routed to simply lists nothing).
    /// </summary>
    /// <param name="text">The flag's value, or <see langword="null"/>.</param>
    /// <returns>The name in lower case, or <see langword="null"/> for every message.</returns>
    /// <exception cref="SettingException">The name cannot be a mailbox name.</exception>
    internal static string? MailboxName(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var name = text.Trim().ToLowerInvariant();
        return Smtpd.Catcher.Mailboxes.MailboxRule.IsValidName(name)
            ? name
            : throw new SettingException("--mailbox", $"'{text}' is not a mailbox name: 1 to {Smtpd.Catcher.Mailboxes.MailboxRule.MaxNameLength} letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    private static int ParseLimit(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
        {
            return limit;
        }

        result.AddError($"--limit: '{text}' is not a whole number of 0 or more");
        return 0;
    }

    private static void WriteShow(TextWriter output, MessageRecord m, HeaderList? headers, MimeMessage? mime, IReadOnlyList<ShownAttachment> attachments)
    {
        // A recipient the headers do not name was sent a blind copy (or was added by a list or a forward): marked,
        // since that is what a test of Bcc handling looks for.
        var named = mime?.To.Mailboxes.Concat(mime.Cc.Mailboxes).Select(a => a.Address).ToHashSet(StringComparer.OrdinalIgnoreCase);
        output.WriteLine($"Id:            {m.Id}");
        output.WriteLine($"Received:      {Terminal.Time(m.ReceivedAt)}");
        output.WriteLine($"Envelope-From: <{m.MailFrom}>");
        output.WriteLine($"Envelope-To:   {string.Join(", ", m.Recipients.Select(r => named is null || named.Contains(r) ? $"<{r}>" : $"<{r}> (Bcc)"))}");
        if (m.DsnReturn is not null || m.DsnEnvelopeId is not null)
        {
            // RFC 3461 4.3 and 4.4, as the client sent them (ENVID decoded).
            output.WriteLine($"DSN:          {(m.DsnReturn is null ? "" : $" RET={m.DsnReturn}")}{(m.DsnEnvelopeId is null ? "" : $" ENVID={m.DsnEnvelopeId}")}");
        }

        foreach (var r in m.RecipientDsn)
        {
            output.WriteLine($"DSN-Recipient: <{r.To}>{(r.Notify is null ? "" : $" NOTIFY={r.Notify}")}{(r.OriginalRecipient is null ? "" : $" ORCPT={r.OriginalRecipient}")}");
        }

        output.WriteLine($"Client:        {m.Client} (HELO {Terminal.Printable(m.Helo ?? "", keepNewLines: false)}){(m.Tls ? $", TLS {m.TlsProtocol}" : "")}{(m.User is null ? "" : $", user {m.User}")}");
        output.WriteLine($"Size:          {m.Size} octets, SHA-256 {m.Sha256}");
        output.WriteLine();
        if (mime is null || headers is null)
        {
            output.WriteLine("(not a MIME message; use --raw)");
            return;
        }

        foreach (var header in headers)
        {
            // Unfolded (RFC 5322 2.2.3: every line break inside a field is a fold), encoded words decoded (RFC 2047),
            // control characters made harmless.
            var value = Rfc2047.DecodeText(header.RawValue).Replace("\r\n", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();
            output.WriteLine($"{header.Field}: {Terminal.Printable(value, keepNewLines: false)}");
        }

        output.WriteLine();
        if (mime.TextBody is { } text)
        {
            output.WriteLine(Terminal.Printable(text.TrimEnd(), keepNewLines: true));
            if (mime.HtmlBody is not null)
            {
                output.WriteLine();
                output.WriteLine($"(there is an HTML part too: smtpd show {m.Id} --html)");
            }
        }
        else
        {
            output.WriteLine(mime.HtmlBody is null ? "(no text part)" : $"(no text part; the HTML part: smtpd show {m.Id} --html)");
        }

        if (attachments.Count > 0)
        {
            output.WriteLine();
            foreach (var attachment in attachments)
            {
                output.WriteLine($"Attachment: {Terminal.Printable(attachment.Name ?? "(unnamed)", keepNewLines: false)} ({attachment.MimeType}, {Terminal.Size(attachment.Size)})");
            }
        }
    }

    private static async Task<int> SaveAttachmentsAsync(CommandContext context, string directory, IReadOnlyList<ShownAttachment> attachments, CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new SettingException("--save-attachments", $"cannot create {directory}: {ex.Message}");
        }

        var output = context.Out;
        output.WriteLine();
        for (var i = 0; i < attachments.Count; i++)
        {
            var path = await attachments[i].SaveAsync(directory, i + 1, ct);
            output.WriteLine($"Saved: {path}");
        }

        if (attachments.Count == 0)
        {
            output.WriteLine("(no attachments to save)");
        }

        return 0;
    }

    private static void WriteJsonList(Stream stdout, IReadOnlyList<MessageRecord> messages)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, CatcherJson.WriterOptions with { Indented = true }))
        {
            writer.WriteStartArray();
            foreach (var m in messages)
            {
                writer.WriteStartObject();
                CatcherJson.WriteMessageSummary(writer, m.Id.ToString(CultureInfo.InvariantCulture), m);
                CatcherJson.WriteNullable(writer, "headerFrom", m.HeaderFrom);
                CatcherJson.WriteNullable(writer, "headerTo", m.HeaderTo);
                CatcherJson.WriteNullable(writer, "date", m.HeaderDate);
                CatcherJson.WriteNullable(writer, "messageId", m.MessageId);
                writer.WriteBoolean("hasAttachments", m.HasAttachments);
                CatcherJson.WriteDsn(writer, m);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        buffer.Write("\n"u8);
        stdout.Write(buffer.WrittenSpan);
        stdout.Flush();
    }
}
