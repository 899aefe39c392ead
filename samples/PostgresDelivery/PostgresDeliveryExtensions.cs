using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Smtpd.Hosting;

namespace Smtpd.Samples.PostgresDelivery;

/// <summary>Wires an Smtpd server whose delivery commits each message to PostgreSQL.</summary>
public static class PostgresDeliveryExtensions
{
    /// <summary>The name of the connection string, under <c>ConnectionStrings</c>: <c>Mail</c>.</summary>
    public const string ConnectionStringName = "Mail";

    /// <summary>
    /// Registers the PostgreSQL data source from <c>ConnectionStrings:Mail</c>, the schema check that runs before
    /// the server listens, and the server with <see cref="PostgresMessageStore"/> as its delivery.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <returns>The Smtpd builder, to add validators or an authenticator.</returns>
    /// <exception cref="InvalidOperationException">The connection string is not set.</exception>
    public static SmtpdBuilder AddPostgresDelivery(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var connectionString = builder.Configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{ConnectionStringName} is not set: give the Npgsql connection string of the mail database " +
                $"in appsettings.json or as the environment variable ConnectionStrings__{ConnectionStringName}.");
        }

        // One data source, so one connection pool, per process; Npgsql logs through the host's loggers.
        builder.Services.AddSingleton(services => new NpgsqlDataSourceBuilder(connectionString)
            .UseLoggerFactory(services.GetRequiredService<ILoggerFactory>())
            .Build());

        // Hosted services start in registration order: the table exists before the server accepts its first client,
        // and a database that cannot be reached stops the host from starting instead of answering every message 451.
        builder.Services.AddHostedService<MailSchema>();

        // A bytea value holds at most 1 GB; a larger limit would accept messages that can never be stored.
        builder.Services.AddOptions<SmtpdOptions>().Validate(
            o => o.Server.MaxMessageSize <= MailSchema.MaxContentSize,
            $"Smtpd:MaxMessageSize: a PostgreSQL bytea column holds at most {MailSchema.MaxContentSize} octets.");

        return builder.Services.AddSmtpd().AddMessageHandler<PostgresMessageStore>();
    }
}
