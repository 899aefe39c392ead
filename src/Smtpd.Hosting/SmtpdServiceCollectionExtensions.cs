using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Smtpd;
using Smtpd.Hosting;

// Extension methods for IServiceCollection live in its namespace, so AddSmtpd is found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers an Smtpd server with a Generic Host.</summary>
public static class SmtpdServiceCollectionExtensions
{
    /// <summary>
    /// Runs an <see cref="SmtpServer"/> as a hosted service: it starts listening when the host starts and stops,
    /// draining open sessions, when the host stops.
    /// </summary>
    /// <remarks>
    /// <list type="bullet">
    /// <item>Options: <see cref="SmtpdOptions"/>, bound from the <c>Smtpd</c> configuration section, then changed by
    /// <paramref name="configure"/>, then validated when the host starts; the host fails to start on any problem.</item>
    /// <item>Logging: the host's <c>ILoggerFactory</c>.</item>
    /// <item>Handlers: register them on the returned builder; each is resolved in a new DI scope per message (or per
    /// validation), so it can use scoped services.</item>
    /// <item>The running server is a singleton <see cref="SmtpServer"/> in the container, for its endpoints and options.</item>
    /// </list>
    /// Calling this again adds <paramref name="configure"/> to the same server.
    /// </remarks>
    /// <example>
    /// <code>
    /// var builder = Host.CreateApplicationBuilder(args);
    /// builder.Services.AddSmtpd(o =&gt; o.Server.MaxMessageSize = 10 * 1024 * 1024)
    ///     .AddMimeMessageHandler&lt;LogMessageHandler&gt;();
    /// await builder.Build().RunAsync();
    /// </code>
    /// </example>
    /// <param name="services">The services.</param>
    /// <param name="configure">Changes the options after configuration binding; <see langword="null"/> for none.</param>
    /// <returns>A builder to register handlers.</returns>
    public static SmtpdBuilder AddSmtpd(this IServiceCollection services, Action<SmtpdOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<SmtpdOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<SmtpdOptions>, SmtpdConfigurationSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SmtpdOptions>, SmtpdOptionsValidator>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(SmtpdServerFactory.Create);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SmtpdHostedService>());
        return new SmtpdBuilder(services);
    }
}
