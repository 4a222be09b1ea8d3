using Npgsql;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A PostgreSQL for the tests that need one (several server nodes sharing a database): .ci/run starts a
/// throwaway server and passes its connection string in ATTP_TEST_POSTGRES. Each test gets a database of its own, made
/// here and dropped when it is disposed, so that tests never see each other's rooms or names.</summary>
public sealed class TestPostgres : IAsyncDisposable
{
    public const string Variable = "ATTP_TEST_POSTGRES";

    private readonly string _admin;
    private readonly string _database;

    private TestPostgres(string admin, string database, string connectionString)
    {
        _admin = admin;
        _database = database;
        ConnectionString = connectionString;
    }

    /// <summary>The connection string of this test's own database.</summary>
    public string ConnectionString { get; }

    /// <summary>Null (and the test says why it is skipped) when no PostgreSQL was given.</summary>
    public static string? Given => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static async Task<TestPostgres> CreateAsync()
    {
        var admin = Given ?? throw new InvalidOperationException($"{Variable} is not set");
        var database = "attp_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        var own = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;
        return new TestPostgres(admin, database, own);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
