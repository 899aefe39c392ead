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

            if (!ServerProperties.TryGetValue(child.Key, out var property))
            {
                options.BindingErrors.Add($"{child.Path} is not an Smtpd setting. Settings: {string.Join(", ", HostingKeys.Concat(ServerProperties.Keys.Order(StringComparer.Ordinal)))}.");
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
