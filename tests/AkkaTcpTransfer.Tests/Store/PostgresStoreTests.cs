using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Store;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Store;

/// <summary>The store's contract on a real PostgreSQL (a database of its own per test), and what is PostgreSQL's own:
/// one single server holds a database, the nodes of a cluster share it, and a server that cannot be reached is named.
/// Skipped where no PostgreSQL was given (.ci/run starts one).</summary>
public sealed class PostgresStoreTests : StoreContract, IAsyncLifetime
{
    private TestPostgres? _postgres;

    public async Task InitializeAsync()
    {
        if (TestPostgres.Given is not null) _postgres = await TestPostgres.CreateAsync();
    }

    public async Task DisposeAsync()
    {
        if (_postgres is not null) await _postgres.DisposeAsync();
    }

    private StoreSettings Settings(string? connection = null)
    {
        Skip.If(_postgres is null, $"no PostgreSQL: set {TestPostgres.Variable} (.ci/run starts one)");
        return new StoreSettings(StoreKind.Postgres, "", connection ?? _postgres!.ConnectionString, 1000, 0);
    }

    private protected override StoreDatabase Open() => StoreDatabase.Open(Settings(), shared: false);

    [SkippableFact]
    public void One_single_server_or_the_nodes_of_one_cluster_use_a_database()
    {
        var settings = Settings();
        using (StoreDatabase.Open(settings, shared: false))
        {
            Assert.Contains("in use by another server", Assert.Throws<StoreException>(() => StoreDatabase.Open(settings, shared: false)).Message,
                StringComparison.Ordinal);
        }
        using var first = StoreDatabase.Open(settings, shared: true);
        using var second = StoreDatabase.Open(settings, shared: true);
        Assert.Equal(first.Id, second.Id);
        Assert.Throws<StoreException>(() => StoreDatabase.Open(settings, shared: false));
    }

    [SkippableFact]
    public void A_server_that_cannot_be_reached_is_named()
    {
        var settings = Settings("Host=127.0.0.1;Port=1;Username=nobody;Database=nothing;Timeout=2");
        var e = Assert.Throws<StoreException>(() => StoreDatabase.Open(settings, shared: false));
        Assert.Contains("PostgreSQL database nothing on 127.0.0.1:1 cannot be used", e.Message, StringComparison.Ordinal);
    }
}
