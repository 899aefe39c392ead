using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Smtpd.Catcher.Chaos;
using Smtpd.Testing;

namespace Smtpd.Catcher.Http;

/// <summary>
/// Mailpit's <c>GET/PUT /api/v1/chaos</c> (its <c>ChaosTriggers</c> JSON, 400 "Chaos is not enabled" unless
/// enabled), and the catcher's deterministic faults under <c>/api/v1/chaos/faults</c>. They need no store.
/// </summary>
internal static class ChaosEndpoints
{
    /// <summary>Maps the routes.</summary>
    /// <param name="routes">The app or a route group.</param>
    public static void Map(IEndpointRouteBuilder routes)
    {
        var chaos = routes.MapGroup("/api/v1/chaos").AddEndpointFilter(RequireEnabled);
        chaos.MapGet(string.Empty, (MailCatcher catcher) => Results.Json(catcher.Chaos.Triggers, ChaosJsonContext.Default.ChaosTriggers));
        chaos.MapPut(string.Empty, SetTriggers);
        chaos.MapGet("/faults", (MailCatcher catcher) => Results.Json(Describe(catcher.Chaos), ChaosJsonContext.Default.ChaosFaultsResponse));
        chaos.MapPost("/faults", AddFault);
        chaos.MapDelete("/faults", (MailCatcher catcher) =>
        {
            catcher.Chaos.ClearScripts();
            return ApiRequests.Ok();
        });
    }

    private static async ValueTask<object?> RequireEnabled(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var catcher = context.HttpContext.RequestServices.GetRequiredService<MailCatcher>();
        if (!catcher.Chaos.Enabled)
        {
            // Mailpit's answer, so its clients report the same thing.
            return ApiRequests.Error(400, "Chaos is not enabled");
        }

        try
        {
            return await next(context);
        }
        catch (ApiRequestException ex)
        {
            return ApiRequests.Error(ex.Status, ex.Message);
        }
    }

    private static async Task<IResult> SetTriggers(HttpRequest request, MailCatcher catcher)
    {
        var body = await ApiRequests.ReadJsonAsync(request, ChaosJsonContext.Default.ChaosTriggersRequest, catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        // Mailpit: an omitted trigger is reset to its default code with probability 0, and code 0 means the default.
        var off = ChaosTriggers.Off;
        var triggers = new ChaosTriggers(
            Complete(body.Sender, off.Sender),
            Complete(body.Recipient, off.Recipient),
            Complete(body.Authentication, off.Authentication));
        try
        {
            catcher.Chaos.SetTriggers(triggers);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            return ApiRequests.Error(400, ApiRequests.OneLine(ex.Message));
        }

        return Results.Json(catcher.Chaos.Triggers, ChaosJsonContext.Default.ChaosTriggers);
    }

    private static async Task<IResult> AddFault(HttpRequest request, MailCatcher catcher)
    {
        var body = await ApiRequests.ReadJsonAsync(request, ChaosJsonContext.Default.ChaosScriptRequest, catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        if (string.IsNullOrWhiteSpace(body.Script))
        {
            return ApiRequests.Error(400, "the body needs a Script, such as {\"Script\":\"rcpt 452 x2\"}");
        }

        SmtpFault fault;
        try
        {
            fault = catcher.Chaos.AddScript(body.Script);
        }
        catch (FormatException ex)
        {
            return ApiRequests.Error(400, ApiRequests.OneLine(ex.Message));
        }

        return Results.Json(Describe(fault), ChaosJsonContext.Default.ChaosFault, statusCode: StatusCodes.Status201Created);
    }

    private static ChaosTrigger Complete(ChaosTrigger? given, ChaosTrigger off) =>
        given is null ? off : given with { ErrorCode = given.ErrorCode == 0 ? off.ErrorCode : given.ErrorCode };

    private static ChaosFaultsResponse Describe(CatcherChaos chaos) => new()
    {
        Seed = chaos.Seed,
        Faults = chaos.Faults.Scripted.Select(Describe).ToList(),
        Injected = chaos.Faults.Injected.Count,
    };

    private static ChaosFault Describe(SmtpFault fault) => new()
    {
        Point = fault.Point.ToString(),
        Kind = fault.Kind.ToString(),
        Reply = fault.Reply?.ToString(),
        DelayMilliseconds = (long)fault.Delay.TotalMilliseconds,
        Times = fault.Times == SmtpFault.Unlimited ? null : fault.Times,
        Skip = fault.Skip,
        Fired = fault.Fired,
    };
}

/// <summary>The body of <c>PUT /api/v1/chaos</c>: Mailpit's triggers, each optional.</summary>
internal sealed class ChaosTriggersRequest
{
    public ChaosTrigger? Sender { get; set; }

    public ChaosTrigger? Recipient { get; set; }

    public ChaosTrigger? Authentication { get; set; }
}

/// <summary>The body of <c>POST /api/v1/chaos/faults</c>.</summary>
internal sealed class ChaosScriptRequest
{
    public string? Script { get; set; }
}

/// <summary>A scripted fault as the API shows it.</summary>
internal sealed class ChaosFault
{
    public required string Point { get; init; }

    public required string Kind { get; init; }

    public string? Reply { get; init; }

    public long DelayMilliseconds { get; init; }

    /// <summary>How many hits it acts on; <see langword="null"/> for every hit.</summary>
    public int? Times { get; init; }

    public int Skip { get; init; }

    public int Fired { get; init; }
}

/// <summary>The answer of <c>GET /api/v1/chaos/faults</c>.</summary>
internal sealed class ChaosFaultsResponse
{
    public int Seed { get; init; }

    public required List<ChaosFault> Faults { get; init; }

    /// <summary>How many faults (scripted or drawn) acted so far.</summary>
    public int Injected { get; init; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(ChaosTriggers))]
[JsonSerializable(typeof(ChaosTriggersRequest))]
[JsonSerializable(typeof(ChaosScriptRequest))]
[JsonSerializable(typeof(ChaosFault))]
[JsonSerializable(typeof(ChaosFaultsResponse))]
internal sealed partial class ChaosJsonContext : JsonSerializerContext;
