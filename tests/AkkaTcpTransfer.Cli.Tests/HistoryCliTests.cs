using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>Rooms and history through the real program: what a sender was told is sent survives the server being killed
/// outright, and comes back to its members when they reconnect to the restarted server.</summary>
public sealed class HistoryCliTests
{
    private const int SIGKILL = 9;

    private static string Text(JsonElement e) => e.GetProperty("text").GetString()!;

    [Fact]
    public async Task Every_line_reported_sent_is_there_after_the_server_is_killed_mid_conversation()
    {
        var state = CliProcess.NewStateDir();
        string[] Server(string port) => ["server", "--port", port, "--json", "--state-dir", state, "--set", "history.scrollback=1000"];
        await using var first = CliProcess.Start(Server("0"));
        var port = await first.Listening();
        string[] fast = ["--set", "client.reconnect.min-backoff=50ms", "--set", "client.reconnect.max-backoff=300ms"];
        await using var alice = CliProcess.Client(first, port, ["--name", "alice", "--json", "--state-dir", CliProcess.NewStateDir(), .. fast]);
        await alice.WaitFor("connected");
        await alice.SendLine("/join #log");
        await alice.WaitFor("room-joined", e => e.GetProperty("room").GetString() == "#log");

        // A paste of lines, and the server killed (no goodbye, no flush) once a random share of them were confirmed.
        const int lines = 300;
        var killAfter = Random.Shared.Next(20, 200);
        var sent = new List<string>();
        using var counting = alice.Subscribe("chat-sent", e => { lock (sent) sent.Add(Text(e)); });
        for (var i = 1; i <= lines; i++) await alice.SendLine($"/msg #log line {i.ToString(CultureInfo.InvariantCulture)}");
        await alice.WaitFor("chat-sent", e => Text(e) == $"line {killAfter.ToString(CultureInfo.InvariantCulture)}");
        var mark = alice.Mark();
        first.Signal(SIGKILL);
        await alice.WaitFor("disconnected", after: mark);
        List<string> confirmed;
        lock (sent) confirmed = [.. sent];
        Assert.True(confirmed.Count >= killAfter, $"{confirmed.Count} confirmed before the kill");

        // The same server again: alice reconnects by herself, is still in #log, and gets its lines back.
        await using var second = CliProcess.Start(Server(port.ToString(CultureInfo.InvariantCulture)));
        await second.Listening();
        await alice.WaitFor("room-joined", e => e.GetProperty("rejoined").GetBoolean(), after: mark);
        await alice.WaitFor("history-end", e => e.GetProperty("target").GetString() == "#log", after: mark);
        var history = alice.Events().Skip(mark)
            .Where(e => e.GetProperty("event").GetString() == "history" && e.GetProperty("to").GetString() == "#log")
            .Select(Text).ToHashSet();
        var lost = confirmed.Where(line => !history.Contains(line)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {confirmed.Count} lines reported sent were lost: {string.Join(", ", lost.Take(5))}");
    }

    [Fact]
    public async Task A_server_whose_postgres_cannot_be_reached_exits_3_and_says_so()
    {
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await using var server = CliProcess.Start("server", "--port", "0", "--json",
            "--postgres", $"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Username=chat;Database=chat;Timeout=3");
        Assert.Equal(3, await server.WaitForExit());
        var line = Assert.Single(server.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("akka-tcp-transfer: ", line, StringComparison.Ordinal);
        Assert.Contains("PostgreSQL", line, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", line, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task With_postgres_the_history_lives_in_that_database_and_not_in_the_state_folder()
    {
        var postgres = Environment.GetEnvironmentVariable("ATTP_TEST_POSTGRES");
        Skip.If(string.IsNullOrEmpty(postgres), "no PostgreSQL: set ATTP_TEST_POSTGRES (.ci/run starts one)");
        // The database outlives this test (other runs share it): a room and a name of this run's own.
        var run = Guid.NewGuid().ToString("N")[..8];
        var room = "#pg" + run;
        var state = CliProcess.NewStateDir();
        var clientState = CliProcess.NewStateDir();
        string[] Server(string port) => ["server", "--port", port, "--json", "--state-dir", state, "--postgres", postgres!];

        int port;
        await using (var first = CliProcess.Start(Server("0")))
        {
            port = await first.Listening();
            await using var alice = CliProcess.Client(first, port, ["--name", "pg" + run, "--json", "--state-dir", clientState]);
            await alice.WaitFor("connected");
            await alice.SendLine($"/join {room}");
            await alice.WaitFor("room-joined");
            await alice.SendLine($"/msg {room} kept in postgres");
            await alice.WaitFor("chat-sent", e => Text(e) == "kept in postgres");
            first.Signal(CliProcess.SIGTERM);
            Assert.Equal(0, await first.WaitForExit());
        }
        Assert.Empty(Directory.GetFiles(state, "*.db*", SearchOption.AllDirectories));

        // The same server again (the same port: a client keeps one identity per server), its folder without a database.
        await using var second = CliProcess.Start(Server(port.ToString(CultureInfo.InvariantCulture)));
        await second.Listening();
        await using var back = CliProcess.Client(second, port, ["--name", "pg" + run, "--json", "--state-dir", clientState]);
        await back.WaitFor("room-joined", e => e.GetProperty("room").GetString() == room);
        await back.WaitFor("history", e => Text(e) == "kept in postgres");
    }
}
