using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>Files the server keeps for their recipients, through the real program, with the server killed outright
/// (SIGKILL: no goodbye, no flush) while it receives one and while it hands one out.</summary>
public sealed class SpoolCliTests : IDisposable
{
    private const int SIGKILL = 9;
    private readonly string _root = Directory.CreateTempSubdirectory("att-cli-spool-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    private static string S(JsonElement e, string field) => e.GetProperty(field).GetString()!;

    private static string Sha(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private string BigFile(string name, int mebibytes)
    {
        var path = Path.Combine(_root, name);
        var random = new Random(mebibytes);
        var block = new byte[1 << 20];
        using var stream = File.Create(path);
        for (var i = 0; i < mebibytes; i++)
        {
            random.NextBytes(block);
            stream.Write(block);
        }
        return path;
    }

    [Fact]
    public async Task A_kept_file_survives_the_server_killed_during_its_upload_and_during_a_delivery_and_both_resume()
    {
        var state = CliProcess.NewStateDir();
        string[] Server(string port) => ["server", "--port", port, "--json", "--state-dir", state];
        string[] fast = ["--set", "client.reconnect.min-backoff=50ms", "--set", "client.reconnect.max-backoff=300ms"];
        await using var first = CliProcess.Start(Server("0"));
        var port = await first.Listening();
        var p = port.ToString(CultureInfo.InvariantCulture);
        var (bobDownloads, carolDownloads) = (Dir("bob-dl"), Dir("carol-dl"));
        await using var bob = CliProcess.Client(first, port, ["--name", "bob", "--yes", "--json", "--downloads", bobDownloads, "--state-dir", Dir("bob-state"), .. fast]);
        await using var carol = CliProcess.Client(first, port, ["--name", "carol", "--yes", "--json", "--downloads", carolDownloads, "--state-dir", Dir("carol-state"), .. fast]);
        await using var alice = CliProcess.Client(first, port, ["--name", "alice", "--json", "--state-dir", Dir("alice-state"), .. fast]);
        foreach (var client in new[] { bob, carol, alice }) await client.WaitFor("connected");
        var file = BigFile("big.bin", 128);

        // 1. Killed while it receives the upload: the upload fails (nothing was held), and sending again resumes it.
        await alice.SendLine($"/send bob,carol {file}");
        await alice.WaitFor("transfer-progress");
        var mark = alice.Mark();
        first.Signal(SIGKILL);
        await alice.WaitFor("transfer-failed", after: mark);
        await using var second = CliProcess.Start(Server(p));
        await second.Listening();
        await alice.WaitFor("connected", after: mark);
        await alice.SendLine($"/send bob,carol {file}");
        var again = await alice.WaitFor("transfer-started", after: mark);
        Assert.True(again.GetProperty("offset").GetInt64() > 0, $"the upload started over: {again}");
        var held = await alice.WaitFor("transfer-held", after: mark);
        Assert.Equal(2, held.GetProperty("recipients").GetInt32());

        // 2. Killed while it hands the file to bob: after the restart the file is checked, offered again, and resumed.
        var bobMark = bob.Mark();
        await bob.WaitFor("transfer-progress", e => S(e, "file") == "big.bin");
        second.Signal(SIGKILL);
        await bob.WaitFor("disconnected", after: bobMark);
        await using var third = CliProcess.Start(Server(p));
        await third.Listening();
        var resumed = await bob.WaitFor("transfer-started", e => e.GetProperty("offset").GetInt64() > 0, after: bobMark);
        Assert.Equal("alice", S(resumed, "from"));
        var toBob = await bob.WaitFor("transfer-completed", e => S(e, "file") == "big.bin", after: bobMark);
        var toCarol = await carol.WaitFor("transfer-completed", e => S(e, "file") == "big.bin");
        var expected = Sha(file);
        Assert.Equal(expected, S(toBob, "sha256"));
        Assert.Equal(expected, Sha(S(toBob, "path")));
        Assert.Equal(expected, Sha(S(toCarol, "path")));

        // alice hears of both, whichever server she was connected to when it happened.
        await alice.WaitFor("delivery", e => S(e, "to") == "bob" && S(e, "state") == "delivered", after: mark);
        await alice.WaitFor("delivery", e => S(e, "to") == "carol" && S(e, "state") == "delivered", after: mark);
        // Nothing half written anywhere: each has one copy, and no partial is left in the spool.
        Assert.Single(Directory.GetFiles(bobDownloads));
        Assert.Empty(Directory.GetFiles(Path.Combine(state, "spool", "incoming")));
    }

    [Fact]
    public async Task The_sender_may_quit_once_the_server_holds_the_file_and_exits_0_while_the_recipients_have_not_answered()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json");
        var port = await server.Listening();
        // bob and carol are asked (no --yes) and do not answer while alice is there.
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json", "--downloads", Dir("bob-dl"));
        await using var carol = CliProcess.Client(server, port, "--name", "carol", "--json", "--downloads", Dir("carol-dl"));
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
        foreach (var client in new[] { bob, carol, alice }) await client.WaitFor("connected");
        var file = BigFile("memo.bin", 2);
        await alice.SendLine($"/send bob,carol {file}");
        await alice.WaitFor("transfer-held");
        alice.CloseStdin();
        Assert.Equal(0, await alice.WaitForExit());
        // The file goes on without her: bob accepts it now.
        var offer = await bob.WaitFor("transfer-offered");
        Assert.Equal("alice", S(offer, "from"));
        await bob.SendLine($"/accept {S(offer, "id")}");
        Assert.Equal(Sha(file), S(await bob.WaitFor("transfer-completed"), "sha256"));
    }
}
