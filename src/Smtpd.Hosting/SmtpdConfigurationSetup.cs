using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Smtpd.Hosting;

/// <summary>
/// Binds the <c>Smtpd</c> configuration section onto <see cref="SmtpdOptions"/>. Errors (unknown keys, values that
/// do not convert, values a setter refuses) are collected, not thrown, so validation at start reports them all.
/// </summary>
internal sealed class SmtpdConfigurationSetup(IConfiguration? configuration = null) : IConfigureOptions<SmtpdOptions>
{
    /// <summary>The <see cref="SmtpServerOptions"/> properties a configuration value can set: the simple, settable ones.</summary>
    internal static readonly IReadOnlyDictionary<string, PropertyInfo> ServerProperties = typeof(SmtpServerOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.SetMethod is { IsPublic: true } && IsSimple(p.PropertyType))
        .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    private static readonly string[] HostingKeys = [nameof(SmtpdOptions.Endpoints), nameof(SmtpdOptions.Certificate), nameof(SmtpdOptions.DrainTimeout)];

    public void Configure(SmtpdOptions options)
    {
        var section = configuration?.GetSection(SmtpdOptions.SectionName);
        if (section is null || !section.Exists())
        {
            return;
        }

        foreach (var child in section.GetChildren())
        {
            if (HostingKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            if (string.Equals(child.Key, nameof(SmtpServerOptions.MaxSessionsPerClientExemptions), StringComparison.OrdinalIgnoreCase))
            {
                BindExemptions(options, child);
                continue;
            }

            if (!ServerProperties.TryGetValue(child.Key, out var property))
            {
                options.BindingErrors.Add($"{child.Path} is not an Smtpd setting. Settings: {string.Join(", ", HostingKeys.Append(nameof(SmtpServerOptions.MaxSessionsPerClientExemptions)).Concat(ServerProperties.Keys).Order(StringComparer.Ordinal))}.");
                continue;
            }

            SetServerProperty(options, child, property);
        }

        foreach (var endpoint in section.GetSection(nameof(SmtpdOptions.Endpoints)).GetChildren())
        {
            var bound = new SmtpdEndpointOptions();
            if (Bind(options, endpoint, bound))
            {
                options.Endpoints.Add(bound);
            }
        }

        if (section.GetSection(nameof(SmtpdOptions.Certificate)) is { } certificate && certificate.Exists())
        {
            options.Certificate ??= new SmtpdCertificateOptions();
            Bind(options, certificate, options.Certificate);
        }

        if (section.GetSection(nameof(SmtpdOptions.DrainTimeout)) is { Value: { } drain } drainSection)
        {
            if (TimeSpan.TryParse(drain, CultureInfo.InvariantCulture, out var timeout))
            {
                options.DrainTimeout = timeout;
            }
            else
            {
                options.BindingErrors.Add($"{drainSection.Path}: '{drain}' is not a valid {Describe(typeof(TimeSpan))}.");
            }
        }
    }

    /// <summary>
    /// The networks exempt from the per-client session cap: an array section (<c>Smtpd:MaxSessionsPerClientExemptions:0</c>)
    /// or one comma-separated value, as environment variables and command lines write lists. Each entry is a CIDR
    /// block or a single address; an empty value clears the list.
    /// </summary>
    private static void BindExemptions(SmtpdOptions options, IConfigurationSection section)
    {
        var entries = section.Value is { } text
            ? text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : section.GetChildren().Select(entry => entry.Value ?? string.Empty).ToArray();
        var networks = new List<System.Net.IPNetwork>(entries.Length);
        foreach (var entry in entries)
        {
            if (SmtpdEndpointOptions.TryParseNetwork(entry, out var network))
            {
                networks.Add(network);
            }
            else
            {
                options.BindingErrors.Add($"{section.Path}: '{entry}' is neither a CIDR block (10.0.0.0/8, with no bits set after the prefix) nor an IP address.");
            }
        }

        if (networks.Count == entries.Length)
        {
            options.Server.MaxSessionsPerClientExemptions = networks;
        }
    }

    private static bool Bind(SmtpdOptions options, IConfigurationSection section, object target)
    {
        try
        {
            section.Bind(target, binder => binder.ErrorOnUnknownConfiguration = true);
            return true;
        }
        catch (InvalidOperationException ex)
        {
            options.BindingErrors.Add($"{section.Path}: {ex.Message}");
            return false;
        }
    }

    private static void SetServerProperty(SmtpdOptions options, IConfigurationSection child, PropertyInfo property)
    {
        if (child.Value is not { } text)
        {
            options.BindingErrors.Add($"{child.Path} needs a value, not a section.");
            return;
        }

        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        object? value;
        try
        {
            value = type == typeof(string) ? text : TypeDescriptor.GetConverter(type).ConvertFromInvariantString(text);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException || ex.InnerException is FormatException)
        {
            options.BindingErrors.Add($"{child.Path}: '{text}' is not a valid {Describe(type)}.");
            return;
        }

        try
        {
            property.SetValue(options.Server, value);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is ArgumentException refused)
        {
            options.BindingErrors.Add($"{child.Path}: '{text}' is refused: {refused.Message}");
        }
    }

    private static string Describe(Type type) =>
        type.IsEnum ? $"{type.Name} ({string.Join(", ", Enum.GetNames(type))})"
        : type == typeof(TimeSpan) ? "time span such as 00:00:30"
        : type.Name;

    private static bool IsSimple(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);
    }
}
