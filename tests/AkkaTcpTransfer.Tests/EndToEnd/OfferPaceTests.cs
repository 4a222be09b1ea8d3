using System.Diagnostics;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A folder of many small files against the server's offer rate limit: the sender paces its offers, and when
/// a server set lower refuses one for its pace, offers that file again later instead of failing it, so the whole folder
/// lands and the sender is never disconnected for "sending too fast". (A folder's small files travel together by
/// default, one offer for all; these tests make every file its own offer, as a folder's large files are.)</summary>
public sealed class OfferPaceTests : NodesAndFiles
{
    private string Folder(int files)
    {
        for (var i = 0; i < files; i++) Files.Create($"src/many/f{i:D3}.bin", 100 + i, seed: i);
        return Path.Combine(Files.Root, "src", "many");
    }

    private static async Task AllLand(EventLog log, int files)
    {
        for (var i = 0; i < files; i++)
        {
            var name = $"many/f{i:D3}.bin";
            await log.WaitFor<TransferCompleted>(c => c.File == name, timeout: TimeSpan.FromSeconds(60));
        }
    }

    [Fact]
    public async Task A_folder_sent_to_a_server_stricter_than_the_senders_pace_keeps_to_the_rate_it_announced()
    {
        const int files = 60;
        var downloads = Files.Dir("server-downloads");
        // A server far stricter than the default, and a sender set far faster than it allows: the Welcome says 20 a
        // second and 10 at once, and the sender keeps to that instead of its own 100.
        var (server, serverLog) = await Nodes.StartServer(("downloads", downloads), ("limits.offers-per-second", "20"), ("limits.offers-burst", "10"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("transfer.offers-per-second", "100"),
            ("transfer.folder-file-max-size", "0")); // every file its own offer: what the pace is about
        var clock = Stopwatch.StartNew();
        alice.Commands.Tell(new NodeCommands.SendFile(null, Folder(files) + "/"));

        await AllLand(serverLog, files);
        await AllLand(aliceLog, files); // the sender's side completes on Verified, a moment later
        // Never refused, never failed, never disconnected; and paced: 10 at once, then 20 a second (2.5 s at least).
        Assert.DoesNotContain(aliceLog.All<ErrorOccurred>(), e => e.Message.Contains("offer refused", StringComparison.Ordinal));
        Assert.Empty(aliceLog.All<TransferFailed>());
        Assert.Empty(aliceLog.All<Disconnected>());
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.2), $"60 offers in {clock.Elapsed}");
        Assert.Equal(files, Files.List(downloads).Count);
        Assert.Equal(files, aliceLog.All<TransferCompleted>().Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public async Task An_offer_refused_because_the_receiver_is_busy_is_offered_again_and_arrives()
    {
        // bob takes one incoming transfer at a time and asks before each: while alice's offer waits for him, carol's is
        // refused as "too many incoming transfers at once", which refuses only its timing; carol offers it again.
        var (server, _) = await Nodes.StartServer();
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("transfer.max-concurrent-receives", "1"), ("transfer.auto-accept", "off"));
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        var (carol, carolLog) = await Nodes.StartClient("carol", server.Port);
        alice.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/first.bin", 10_000, seed: 1)));
        var first = await bobLog.WaitFor<TransferOffered>(o => o.File == "first.bin");
        carol.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create("src/second.bin", 10_000, seed: 2)));
        await carolLog.WaitFor<TransferWaiting>(w => w.File == "second.bin");
        bob.Commands.Tell(new NodeCommands.AcceptTransfer(first.Id));
        await bobLog.WaitFor<TransferCompleted>(c => c.File == "first.bin");
        var second = await bobLog.WaitFor<TransferOffered>(o => o.File == "second.bin");
        bob.Commands.Tell(new NodeCommands.AcceptTransfer(second.Id));
        await carolLog.WaitFor<TransferCompleted>(c => c.File == "second.bin");
        Assert.Empty(carolLog.All<TransferFailed>());
        Assert.Empty(aliceLog.All<TransferFailed>());
    }

    [Fact]
    public async Task Offers_go_out_no_faster_than_the_senders_own_pace()
    {
        const int files = 30;
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("server-downloads")));
        var (alice, _) = await Nodes.StartClient("alice", server.Port, ("transfer.offers-per-second", "10"), ("transfer.folder-file-max-size", "0"));
        var clock = Stopwatch.StartNew();
        alice.Commands.Tell(new NodeCommands.SendFile(null, Folder(files) + "/"));
        await AllLand(serverLog, files);
        // Ten at once, then ten a second: the last twenty need two seconds at least (unpaced, 30 tiny files take a
        // fraction of that).
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"30 offers at 10 a second took only {clock.Elapsed.TotalSeconds:0.00} s");
    }
}
