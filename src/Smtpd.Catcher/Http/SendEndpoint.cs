using System.Net.Mail;
using Microsoft.AspNetCore.Http;
using MimeKit;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http;

/// <summary>
/// <c>POST /api/v1/send</c>: builds a message from Mailpit's JSON send format with MimeKit and stores it like one
/// received over SMTP. Nothing is relayed. Errors are Mailpit's JSON <c>{"Error":…}</c> with 400 (413 past the size cap).
/// </summary>
internal static class SendEndpoint
{
    /// <summary>Headers the builder owns: setting them through <c>Headers</c> would contradict the message's structure.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Content-Type", "Content-Transfer-Encoding", "MIME-Version",
    };

    /// <summary>Handles the request.</summary>
    /// <param name="context">The request.</param>
    /// <param name="mailbox">The mailbox.</param>
    /// <returns>The stored message's ID, or the error.</returns>
    public static async Task<IResult> Send(HttpContext context, CatcherMailbox mailbox)
    {
        SendRequest body;
        try
        {
            body = await ApiRequests.ReadJsonAsync(context.Request, ApiJsonContext.Default.SendRequest, mailbox.Catcher.Options.Http.MaxSendSize, whenEmpty: null);
        }
        catch (ApiRequestException ex)
        {
            return Failure(ex.Status, ex.Message);
        }

        MimeMessage message;
        List<string> recipients;
        try
        {
            (message, recipients) = Build(body);
        }
        catch (Exception ex) when (ex is FormatException or ParseException or ArgumentException)
        {
            return Failure(400, ApiRequests.OneLine(ex.Message));
        }

        byte[] content;
        using (message)
        using (var buffer = new MemoryStream())
        {
            await message.WriteToAsync(FormatOptions.Default, buffer, context.RequestAborted);
            content = buffer.ToArray();
        }

        var client = context.Connection.RemoteIpAddress is { } ip ? $"{ip}:{context.Connection.RemotePort}" : "http";
        var id = await mailbox.Catcher.StoreLocalAsync(content, new MessageRecord
        {
            ReceivedAt = DateTimeOffset.UtcNow,
            MailFrom = body.From!.Email!,
            Recipients = recipients,
            Client = client,
            Size = content.Length,
            Sha256 = string.Empty,
            User = context.User.Identity?.IsAuthenticated == true ? context.User.Identity.Name : null,
        });
        if (body.Tags is { Count: > 0 } tags)
        {
            mailbox.SetTags([id], [.. tags.Select(t => t.Trim()).Where(t => t.Length > 0 && !t.Any(char.IsControl)).Distinct(StringComparer.Ordinal)]);
        }

        return Results.Json(new SendResponse { ID = ApiMapper.Id(id) }, ApiJsonContext.Default.SendResponse);
    }

    private static (MimeMessage Message, List<string> Recipients) Build(SendRequest body)
    {
        if (body.From?.Email is not { Length: > 0 } fromAddress)
        {
            throw new FormatException("From.Email is required");
        }

        var message = new MimeMessage();
        message.From.Add(Mailbox(body.From, "From"));
        var recipients = new List<string>();
        foreach (var to in body.To ?? [])
        {
            message.To.Add(Mailbox(to, "To"));
            recipients.Add(to.Email!);
        }

        foreach (var cc in body.Cc ?? [])
        {
            message.Cc.Add(Mailbox(cc, "Cc"));
            recipients.Add(cc.Email!);
        }

        foreach (var bcc in body.Bcc ?? [])
        {
            // Bcc recipients are in the envelope only, as an SMTP client sends them.
            recipients.Add(Mailbox(new SendAddress { Email = bcc }, "Bcc").Address);
        }

        if (recipients.Count == 0)
        {
            throw new FormatException("at least one recipient (To, Cc or Bcc) is required");
        }

        foreach (var replyTo in body.ReplyTo ?? [])
        {
            message.ReplyTo.Add(Mailbox(replyTo, "ReplyTo"));
        }

        message.Subject = body.Subject ?? string.Empty;
        foreach (var (name, value) in body.Headers ?? [])
        {
            if (ReservedHeaders.Contains(name))
            {
                throw new FormatException($"header {name} is set by the message's own members");
            }

            if (value.Any(c => c is '\r' or '\n'))
            {
                throw new FormatException($"header {name} has a line break in its value");
            }

            // MimeKit refuses a name that is not an RFC 5322 field name (ArgumentException).
            message.Headers.Add(name, value);
        }

        var builder = new BodyBuilder { TextBody = body.Text, HtmlBody = body.HTML };
        foreach (var attachment in body.Attachments ?? [])
        {
            if (attachment.Filename is not { Length: > 0 } fileName)
            {
                throw new FormatException("every attachment needs a Filename");
            }

            var data = Convert.FromBase64String(attachment.Content ?? string.Empty);
            var type = ContentType.Parse(attachment.ContentType is { Length: > 0 } t ? t : MimeTypes.GetMimeType(fileName));
            var part = attachment.ContentID is { Length: > 0 }
                ? builder.LinkedResources.Add(fileName, data, type)
                : builder.Attachments.Add(fileName, data, type);
            if (attachment.ContentID is { Length: > 0 } contentId)
            {
                part.ContentId = contentId;
            }
        }

        message.Body = builder.ToMessageBody();
        return (message, recipients);
    }

    private static MailboxAddress Mailbox(SendAddress address, string member)
    {
        // System.Net.Mail's parser is strict about the addr-spec, which is what a client deserves to hear about.
        if (address.Email is not { Length: > 0 } email || !MailAddress.TryCreate(email, out _) || email.Any(c => c is '<' or '>' or ',' or '\r' or '\n'))
        {
            throw new FormatException($"invalid {member} address: '{address.Email}'");
        }

        return new MailboxAddress(address.Name ?? string.Empty, email);
    }

    private static IResult Failure(int status, string reason) =>
        Results.Json(new JsonError { Error = reason }, ApiJsonContext.Default.JsonError, statusCode: status);
}
