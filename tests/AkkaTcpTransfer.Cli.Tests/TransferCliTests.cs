using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>/send, /cancel, /accept, /transfers and the transfer events as JSON, on real processes and files.</summary>
public sealed class TransferCliTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("att-cli-transfer-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    private string File(string relative, int size, int seed)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        System.IO.File.WriteAllBytes(path, data);
        return path;
    }

    private static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(System.IO.File.ReadAllBytes(path)));

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static string S(JsonElement e, string field) => e.GetProperty(field).GetString()!;

    private static void AssertFields(JsonElement e, params string[] fields) =>
        Assert.Equal(["event", .. fields], e.EnumerateObject().Select(p => p.Name));

    [Fact]
    public async Task Send_to_the_server_reports_every_transfer_event_with_the_documented_fields()
    {
        var downloads = Dir("server-dl");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", downloads);
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--yes", "--json", "--downloads", Dir("alice-dl"));
        await alice.WaitFor("connected");
        var source = File("src/report.pdf", 3_000_000, seed: 1);
        await alice.SendLine($"/send {source}");

        var offered = await server.WaitFor("transfer-offered");
        AssertFields(offered, "id", "file", "size", "from", "to");
        Assert.Equal(("report.pdf", 3_000_000L, "alice", "server"), (S(offered, "file"), offered.GetProperty("size").GetInt64(), S(offered, "from"), S(offered, "to")));
        var id = S(offered, "id");
        Assert.Matches("^[0-9a-f]{8}$", id);

        var started = await server.WaitFor("transfer-started", e => S(e, "id") == id);
        AssertFields(started, "id", "file", "size", "from", "to", "direction", "offset");
        Assert.Equal(("receive", 0L), (S(started, "direction"), started.GetProperty("offset").GetInt64()));
        Assert.Equal("send", S(await alice.WaitFor("transfer-started", e => S(e, "id") == id), "direction"));

        var completed = await server.WaitFor("transfer-completed", e => S(e, "id") == id);
        AssertFields(completed, "id", "file", "path", "size", "sha256", "seconds", "files");
        Assert.Equal(Path.Combine(downloads, "report.pdf"), S(completed, "path"));
        Assert.Equal(Sha(source), S(completed, "sha256"));
        Assert.Equal(Sha(source), Sha(S(completed, "path")));
        Assert.Equal(Sha(source), S(await alice.WaitFor("transfer-completed", e => S(e, "id") == id), "sha256"));

        var progress = await server.WaitFor("transfer-progress", e => S(e, "id") == id && e.GetProperty("bytes").GetInt64() == 3_000_000);
        AssertFields(progress, "id", "file", "bytes", "total", "rate", "eta");
        Assert.Equal(3_000_000, progress.GetProperty("total").GetInt64());
        Assert.True(progress.GetProperty("rate").GetDouble() >= 0);

        // End of input: the client has nothing outgoing left and exits 0.
        alice.CloseStdin();
        Assert.Equal(0, await alice.WaitForExit());
        server.AssertStdoutIsOnlyJsonEvents();
        alice.AssertStdoutIsOnlyJsonEvents();
    }

    [Fact]
    public async Task A_quoted_path_with_spaces_goes_to_a_named_client_through_the_server()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        var port = await server.Listening();
        var bobDownloads = Dir("bob-dl");
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--yes", "--json", "--downloads", bobDownloads);
        await bob.WaitFor("connected");
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--yes", "--json", "--downloads", Dir("a"));
        await alice.WaitFor("connected");
        var source = File("src/my file.txt", 12_345, seed: 2);
        await alice.SendLine($"/send bob \"{source}\"");
        var done = await bob.WaitFor("transfer-completed");
        Assert.Equal(("my file.txt", Path.Combine(bobDownloads, "my file.txt")), (S(done, "file"), S(done, "path")));
        Assert.Equal(Sha(source), Sha(S(done, "path")));
        Assert.Equal("alice", S(await bob.WaitFor("transfer-offered"), "from"));
    }

    [Fact]
    public async Task The_server_sends_a_folder_to_a_client()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        var port = await server.Listening();
        var bobDownloads = Dir("bob-dl");
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--yes", "--json", "--downloads", bobDownloads);
        await bob.WaitFor("connected");
        var a = File("album/a.bin", 1000, seed: 3);
        var b = File("album/sub/b.bin", 2000, seed: 4);
        await server.SendLine($"/send bob {Path.Combine(_root, "album")}");
        // Its small files travel as one transfer.
        var done = await bob.WaitFor("transfer-completed", e => S(e, "file") == "album/");
        Assert.Equal(2, done.GetProperty("files").GetInt32());
        Assert.Equal(Path.Combine(bobDownloads, "album"), S(done, "path"));
        Assert.Equal(Sha(a), Sha(Path.Combine(bobDownloads, "album", "a.bin")));
        Assert.Equal(Sha(b), Sha(Path.Combine(bobDownloads, "album", "sub", "b.bin")));
    }

    [Fact]
    public async Task A_client_asks_before_receiving_and_one_accept_takes_a_whole_folder_while_the_sender_sees_it_wait()
    {
        var album = Path.Combine(_root, "album");
        var files = Enumerable.Range(0, 6).Select(i => File($"album/{(i % 2 == 0 ? "" : "sub/")}{i}.bin", 30_000 + i, seed: 20 + i)).ToList();
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        var port = await server.Listening();
        var bobDownloads = Dir("bob-dl");
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json", "--downloads", bobDownloads);
        await bob.WaitFor("connected");
        await server.SendLine($"/send bob {album}");
        var offered = await bob.WaitFor("transfer-offered");
        Assert.Equal("bob", S(await server.WaitFor("transfer-waiting"), "to"));
        // Nothing moves before bob says yes.
        await bob.SendLine("/transfers");
        var listed = await bob.WaitFor("transfers", e => e.GetProperty("transfers").GetArrayLength() > 0);
        Assert.All(listed.GetProperty("transfers").EnumerateArray(), t => Assert.Equal("offered", S(t, "state")));
        Assert.DoesNotContain(Directory.GetFiles(bobDownloads, "*", SearchOption.AllDirectories), f => !f.Contains(".akka-tcp-transfer", StringComparison.Ordinal));

        await bob.SendLine($"/accept {S(offered, "id")}");
        Assert.Equal(6, (await bob.WaitFor("transfer-completed", e => S(e, "file") == "album/")).GetProperty("files").GetInt32());
        foreach (var f in files)
        {
            var name = Path.GetRelativePath(_root, f).Replace('\\', '/');
            Assert.Equal(Sha(f), Sha(Path.Combine(bobDownloads, name)));
        }
    }

    [Fact]
    public async Task Ctrl_c_while_sending_exits_4_and_names_what_was_left_unfinished()
    {
        // A server that asks: the offer waits, so the transfer is surely unfinished when the client is interrupted.
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"), "--set", "transfer.auto-accept=off");
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json", "--downloads", Dir("a"));
        await alice.WaitFor("connected");
        var source = File("src/unfinished.bin", 100_000, seed: 9);
        await alice.SendLine($"/send {source}");
        await alice.WaitFor("transfer-waiting");
        alice.Signal(CliProcess.SIGINT);
        Assert.Equal(4, await alice.WaitForExit());
        Assert.Contains("stopped with 1 outgoing transfer(s) unfinished: unfinished.bin; send them again to resume", alice.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_accept_and_transfers_work_by_id_from_either_side()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"), "--set", "transfer.auto-accept=off");
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--yes", "--json", "--downloads", Dir("a"));
        await alice.WaitFor("connected");
        var source = File("src/wait.bin", 50_000, seed: 5);

        // The server waits for a decision: the offer shows in /transfers, and the sender cancels it.
        await alice.SendLine($"/send {source}");
        var first = S(await server.WaitFor("transfer-offered"), "id");
        await server.SendLine("/transfers");
        var listed = await server.WaitFor("transfers", e => e.GetProperty("transfers").GetArrayLength() == 1);
        var entry = listed.GetProperty("transfers")[0];
        Assert.Equal((first, "receive", "alice"), (S(entry, "id"), S(entry, "direction"), S(entry, "peer")));
        await alice.SendLine($"/cancel {first}");
        var cancelled = await server.WaitFor("transfer-cancelled", e => S(e, "id") == first);
        AssertFields(cancelled, "id", "file", "by");
        Assert.Equal("alice", S(cancelled, "by"));
        Assert.Equal("alice", S(await alice.WaitFor("transfer-cancelled", e => S(e, "id") == first), "by"));

        // The receiver cancels the next one itself.
        await alice.SendLine($"/send {source}");
        var second = S(await server.WaitFor("transfer-offered", e => S(e, "id") != first), "id");
        await server.SendLine($"/cancel {second}");
        Assert.Equal("server", S(await alice.WaitFor("transfer-cancelled", e => S(e, "id") == second), "by"));

        // And accepts the third.
        await alice.SendLine($"/send {source}");
        var third = S(await server.WaitFor("transfer-offered", e => S(e, "id") != first && S(e, "id") != second), "id");
        await server.SendLine($"/accept {third}");
        Assert.Equal(Sha(source), S(await server.WaitFor("transfer-completed", e => S(e, "id") == third), "sha256"));

        await server.SendLine("/cancel 12345678");
        Assert.Contains("no transfer with id '12345678'", S(await server.WaitFor("error"), "message"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_whose_input_ends_finishes_its_sends_then_exits_4_if_one_failed()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--yes", "--json", "--downloads", Dir("a"));
        await alice.WaitFor("connected");
        var good = File("src/good.bin", 2_000_000, seed: 6);
        await alice.SendLine($"/send {good}");
        await alice.SendLine($"/send nobody {good}");
        alice.CloseStdin();
        Assert.Equal(4, await alice.WaitForExit());
        // The good file was still delivered before the client left.
        Assert.Equal(Sha(good), S(await server.WaitFor("transfer-completed"), "sha256"));
        Assert.Contains("no one named 'nobody'", S(await alice.WaitFor("transfer-failed"), "reason"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_whose_input_ends_waits_for_a_big_send_and_exits_0()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--yes", "--json", "--downloads", Dir("a"));
        await alice.WaitFor("connected");
        var big = File("src/big.bin", 64 * 1024 * 1024, seed: 7);
        await alice.SendLine($"/send {big}");
        alice.CloseStdin();
        Assert.Equal(0, await alice.WaitForExit());
        Assert.Equal(Sha(big), S(await server.WaitFor("transfer-completed"), "sha256"));
    }

    [Fact]
    public async Task Send_usage_errors_are_reported_as_errors()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Dir("s"));
        await server.Listening();
        await server.SendLine("/send onlyapath.txt");
        Assert.Contains("/send NAME PATH", S(await server.WaitFor("error"), "message"), StringComparison.Ordinal);
        var mark = server.Mark();
        await server.SendLine("/send bob \"unterminated");
        Assert.Contains("unbalanced quotes", S(await server.WaitFor("error", after: mark), "message"), StringComparison.Ordinal);
    }
}
