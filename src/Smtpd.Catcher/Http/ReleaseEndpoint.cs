using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Smtpd.Catcher.Relay;

namespace Smtpd.Catcher.Http;

/// <summary>The body of <c>POST /api/v1/message/{ID}/release</c>.</summary>
internal sealed class ReleaseRequest
{
    /// <summary>The addresses to relay the message to.</summary>
    public List<string>? To { get; init; }
}

/// <summary>
/// Mailpit's <c>POST /api/v1/message/{ID}/release</c> with <c>{"To":[…]}</c>: relays a stored message through
/// <see cref="CatcherOptions.Relay"/> to the given recipients. Answers Mailpit's <c>200 ok</c> as text; 400 with a
/// reason for a bad body, a recipient that is not an address or not allowed, relay not configured, or a server that
/// refused (<c>SMTP error: …</c>, naming the server and its reply); 502 when the server cannot be reached; 404 for
/// an unknown ID. The message stays stored whatever happens.
/// </summary>
internal static class ReleaseEndpoint
{
    /// <summary>Maps the route onto the API group.</summary>
    /// <param name="api">The <c>/api/v1</c> group.</param>
    public static void Map(IEndpointRouteBuilder api) => api.MapPost("/message/{id}/release", Release);

    private static async Task<IResult> Release(string id, HttpContext context, CatcherMailbox mailbox)
    {
        var options = mailbox.Catcher.Options.Relay;
        if (!options.Enabled)
        {
            return ApiRequests.Error(400, "release is not enabled: start the catcher with --relay smtp://host:port");
        }

        var body = await ApiRequests.ReadJsonAsync(context.Request, ApiJsonContext.Default.ReleaseRequest, mailbox.Catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        var recipients = (body.To ?? []).Select(t => t.Trim()).Where(t => t.Length > 0).ToList();
        if (recipients.FirstOrDefault(r => !RelayOptions.IsAddress(r)) is { } invalid)
        {
            return ApiRequests.Error(400, $"invalid email address: {ApiRequests.OneLine(invalid)}");
        }

        if (recipients.Count == 0)
        {
            return ApiRequests.Error(400, "no valid addresses found: give To, a list of addresses");
        }

        var refused = recipients.Where(r => !options.IsAllowed(r)).ToList();
        if (refused.Count > 0)
        {
            return ApiRequests.Error(400, $"{(refused.Count == 1 ? "address does" : "addresses do")} not match the relay allow-list (--relay-allow): {string.Join(", ", refused)}");
        }

        using var store = mailbox.Open();
        long storeId;
        if (string.Equals(id, "latest", StringComparison.OrdinalIgnoreCase))
        {
            storeId = store.Latest(null) ?? throw new ApiRequestException(404, "there are no messages");
        }
        else if (!ApiRequests.TryParseId(id, out storeId))
        {
            return ApiRequests.Error(404, "message not found");
        }

        if (store.Find(storeId) is not { } record)
        {
            return ApiRequests.Error(404, "message not found");
        }

        try
        {
            await using var content = store.OpenContent(record);
            await new MessageRelay(options).SendAsync(content, record.MailFrom, recipients, context.RequestAborted);
        }
        catch (RelayException ex)
        {
            return ApiRequests.Error(ex.Failure == RelayFailure.Refused ? 400 : 502, "SMTP error: " + ex.Message);
        }

        return ApiRequests.Ok();
    }
}
