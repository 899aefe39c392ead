using System.Text.RegularExpressions;
using Smtpd.Catcher;

namespace Smtpd.Cli.Configuration;

/// <summary>The relay and webhook flags, parsed and checked: <c>--relay*</c> and <c>--webhook-url</c>.</summary>
internal sealed record HookSettings
{
    /// <summary>No relay and no webhook.</summary>
    public static readonly HookSettings None = new();

    /// <summary>The relay server, credentials removed from it (they are in <see cref="RelayUser"/>).</summary>
    public Uri? Relay { get; init; }

    public string? RelayUser { get; init; }

    public string? RelayPassword { get; init; }

    public string? RelaySender { get; init; }

    public Regex? RelayAllow { get; init; }

    public Regex? RelayMatching { get; init; }

    public bool RelayStartTls { get; init; }

    public bool RelayInsecure { get; init; }

    public Uri? WebhookUrl { get; init; }

    /// <summary>Parses the flags from their sources.</summary>
    /// <param name="sources">The command line, environment and config file.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="SettingException">A value is bad.</exception>
    public static HookSettings Load(SettingSources sources)
    {
        Uri? relay = null;
        string? user = null;
        string? password = null;
        if (sources.Get(Flags.Relay) is { } relaySetting)
        {
            var probe = new Smtpd.Catcher.Relay.RelayOptions();
            try
            {
                probe.Server = Uri.TryCreate(relaySetting.Value, UriKind.Absolute, out var uri)
                    ? uri
                    : throw new ArgumentException($"'{Redact(relaySetting.Value)}' is not a URL");
            }
            catch (ArgumentException ex)
            {
                throw new SettingException(relaySetting.Label, $"{FirstSentence(ex.Message)}; expected smtp://HOST:PORT or smtps://HOST:PORT");
            }

            relay = probe.Server;
            (user, password) = (probe.UserName, probe.Password);
        }

        if (sources.Get(Flags.RelayAuth) is { } auth)
        {
            (user, password) = ValueParsers.ParseCredentials(auth.Value, auth.Label);
        }

        string? sender = null;
        if (sources.Get(Flags.RelaySender) is { } senderSetting)
        {
            sender = Smtpd.Catcher.Relay.RelayOptions.IsAddress(senderSetting.Value)
                ? senderSetting.Value
                : throw new SettingException(senderSetting.Label, $"'{senderSetting.Value}' is not an email address (local@domain)");
        }

        Uri? webhook = null;
        if (sources.Get(Flags.WebhookUrl) is { } webhookSetting)
        {
            webhook = Uri.TryCreate(webhookSetting.Value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                ? uri
                : throw new SettingException(webhookSetting.Label, $"'{webhookSetting.Value}' is not an http:// or https:// URL");
        }

        return new HookSettings
        {
            Relay = relay,
            RelayUser = user,
            RelayPassword = password,
            RelaySender = sender,
            RelayAllow = sources.Get(Flags.RelayAllow) is { } allow ? ValueParsers.ParseRegex(allow.Value, allow.Label) : null,
            RelayMatching = sources.Get(Flags.RelayMatching) is { } matching ? ValueParsers.ParseRegex(matching.Value, matching.Label) : null,
            RelayStartTls = sources.IsOn(Flags.RelayStartTls),
            RelayInsecure = sources.IsOn(Flags.RelayInsecure),
            WebhookUrl = webhook,
        };
    }

    /// <summary>Refuses flags that need another one.</summary>
    /// <param name="noStore">Whether <c>--no-store</c> is on.</param>
    /// <exception cref="SettingException">A combination cannot work.</exception>
    public void CheckCombinations(bool noStore)
    {
        if (Relay is null)
        {
            var orphan = RelayUser is not null ? Flags.RelayAuth
                : RelaySender is not null ? Flags.RelaySender
                : RelayAllow is not null ? Flags.RelayAllow
                : RelayMatching is not null ? Flags.RelayMatching
                : RelayStartTls ? Flags.RelayStartTls
                : RelayInsecure ? Flags.RelayInsecure
                : null;
            if (orphan is not null)
            {
                throw new SettingException(orphan.Option, "needs --relay smtp://HOST:PORT");
            }
        }

        if (noStore && RelayMatching is not null)
        {
            throw new SettingException(Flags.RelayMatching.Option, "cannot be combined with --no-store: relayed messages are read back from the store");
        }

        if (noStore && WebhookUrl is not null)
        {
            throw new SettingException(Flags.WebhookUrl.Option, "cannot be combined with --no-store: the summaries name stored messages");
        }
    }

    /// <summary>Sets the catcher's relay and webhook options.</summary>
    /// <param name="options">The options.</param>
    public void Apply(CatcherOptions options)
    {
        var relay = options.Relay;
        relay.Server = Relay;
        relay.UserName = RelayUser;
        relay.Password = RelayPassword;
        relay.Sender = RelaySender;
        relay.AllowRecipients = RelayAllow;
        relay.Matching = RelayMatching;
        relay.RequireStartTls = RelayStartTls;
        relay.AllowUntrustedCertificate = RelayInsecure;
        options.Webhook.Url = WebhookUrl;
    }

    private static string FirstSentence(string message) => message.Split(" (Parameter", 2)[0].TrimEnd('.');

    /// <summary>A URL with any password in it replaced, for an error message.</summary>
    private static string Redact(string text)
    {
        var at = text.LastIndexOf('@');
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? text[..(scheme + 3)] + "***@" + text[(at + 1)..] : text;
    }
}
