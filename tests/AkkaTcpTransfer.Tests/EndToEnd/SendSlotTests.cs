using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>An offer waiting for a person holds none of the sender's places among its sends streaming at once
/// (<c>transfer.max-concurrent-sends</c>): offers to someone who does not answer never hold up sends to anyone else.</summary>
public sealed class SendSlotTests : NodesAndFiles
{
    [Fact]
    public async Task Offers_waiting_for_a_person_do_not_hold_up_a_send_to_someone_else()
    {
        var (server, _) = await Nodes.StartServer();
        var (bob, bobLog) = await Nodes.StartClient("bob", server.Port, ("transfer.auto-accept", "off"));
        var (_, carolLog) = await Nodes.StartClient("carol", server.Port);
        // alice may stream 2 files at once; bob is asked about 3 and says nothing yet.
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("transfer.max-concurrent-sends", "2"),
            ("transfer.offer-slot-grace", "300ms"));
        for (var i = 0; i < 3; i++) alice.Commands.Tell(new NodeCommands.SendFile("bob", Files.Create($"src/for-bob-{i}.bin", 10_000, seed: i)));
        var offers = await bobLog.WaitForCount<TransferOffered>(3, timeout: TimeSpan.FromSeconds(20));

        // Without the grace the two places are taken by offers to bob until his answer timeout (90 s): carol's file
        // would wait that long. It arrives at once.
        alice.Commands.Tell(new NodeCommands.SendFile("carol", Files.Create("src/for-carol.bin", 50_000, seed: 9)));
        await carolLog.WaitFor<TransferCompleted>(c => c.File == "for-carol.bin", timeout: TimeSpan.FromSeconds(20));

        // bob's offers still wait for him, and accepting them now delivers them: all three stream, above the limit
        // of two, for a while.
        Assert.Empty(aliceLog.All<TransferFailed>());
        foreach (var offer in offers) bob.Commands.Tell(new NodeCommands.AcceptTransfer(offer.Id));
        await bobLog.WaitForCount<TransferCompleted>(3, timeout: TimeSpan.FromSeconds(30));
        await aliceLog.WaitForCount<TransferCompleted>(4, timeout: TimeSpan.FromSeconds(30));
        Assert.Empty(aliceLog.All<TransferFailed>());
    }
}
