using Npgsql;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>The two spellings of a PostgreSQL store, and <see cref="CatcherOptions.DatabaseConnectionString"/>'s validation.</summary>
public sealed class PostgresConnectionTests
{
    [Fact]
    public void TheDefaultIsTheSqliteStore() => Assert.Null(new CatcherOptions().DatabaseConnectionString);

    [Fact]
    public void AUrlBecomesAConnectionString()
    {
        var options = new CatcherOptions { DatabaseConnectionString = "postgres://mail:p%40ss@db.example:6543/catcher?sslmode=disable" };
        var b = new NpgsqlConnectionStringBuilder(options.DatabaseConnectionString);
        Assert.Equal(("db.example", 6543, "mail", "p@ss", "catcher", SslMode.Disable), (b.Host, b.Port, b.Username, b.Password, b.Database, b.SslMode));
    }

    [Fact]
    public void AConnectionStringIsKeptAndDescribedWithoutItsPassword()
    {
        var options = new CatcherOptions { DatabaseConnectionString = "Host=db;Port=5433;Username=u;Password=secret;Database=mail" };
        Assert.Equal("postgres://u@db:5433/mail", PostgresConnection.Describe(options.DatabaseConnectionString!));
    }

    [Theory]
    [InlineData("Host=db;Database=mail", 5)]
    [InlineData("postgres://u@db/mail", 5)]
    [InlineData("Host=db;Database=mail;Timeout=30", 30)]
    [InlineData("postgres://u@db/mail?Timeout=12", 12)]
    public void TheCatcherConnectsWithAFiveSecondTimeoutUnlessOneIsGiven(string value, int timeout)
    {
        var settings = PostgresCatcherStore.Settings(value);
        Assert.Equal((timeout, "smtpd catcher"), (settings.Timeout, settings.ApplicationName));
    }

    [Fact]
    public void ReadersPrepareTheirStatementsPlanEachSearchForItsValuesAndCommitWithoutWaitingForTheFlush()
    {
        var readers = new NpgsqlConnectionStringBuilder(PostgresCatcherStore.ReaderConnectionString(new NpgsqlConnectionStringBuilder("Host=db;Database=mail")));
        Assert.Equal((64, 2, true, "-c plan_cache_mode=force_custom_plan -c synchronous_commit=off"), (readers.MaxAutoPrepare, readers.AutoPrepareMinUsages, readers.NoResetOnClose, readers.Options));
    }

    [Fact]
    public void ReadersKeepThePreparingAndOptionsTheUserGave()
    {
        var given = new NpgsqlConnectionStringBuilder("Host=db;Database=mail;Max Auto Prepare=5;Auto Prepare Min Usages=7;No Reset On Close=false;Options=-c statement_timeout=5000");
        var readers = new NpgsqlConnectionStringBuilder(PostgresCatcherStore.ReaderConnectionString(given));
        Assert.Equal((5, 7, false, "-c statement_timeout=5000 -c plan_cache_mode=force_custom_plan -c synchronous_commit=off"), (readers.MaxAutoPrepare, readers.AutoPrepareMinUsages, readers.NoResetOnClose, readers.Options));
        var planned = new NpgsqlConnectionStringBuilder("Host=db;Options=-c plan_cache_mode=auto -c synchronous_commit=remote_write");
        Assert.Equal("-c plan_cache_mode=auto -c synchronous_commit=remote_write", new NpgsqlConnectionStringBuilder(PostgresCatcherStore.ReaderConnectionString(planned)).Options);
    }

    [Theory]
    [InlineData("postgres://user:secret@/db")]
    [InlineData("Host=;Database=mail")]
    [InlineData("Host=db;NoSuchKeyword=1")]
    public void AnInvalidValueIsRefusedWithoutEchoingThePassword(string value)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new CatcherOptions { DatabaseConnectionString = value });
        Assert.DoesNotContain("secret", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres://h/db", true)]
    [InlineData("postgresql://h/db", true)]
    [InlineData("Host=h;Database=db", true)]
    [InlineData("host = h; database = db", true)]
    [InlineData("/var/lib/smtpd/store.db", false)]
    [InlineData("store.db", false)]
    public void TheDbValueNamesPostgresOnlyAsAUrlOrWithAHost(string value, bool postgres) =>
        Assert.Equal(postgres, PostgresConnection.IsPostgres(value));
}
