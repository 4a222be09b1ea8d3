using Akka.Actor;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Server.Stored;

namespace AkkaTcpTransfer.Tests.Store;

/// <summary>What the spool stores comes back as it was written, snapshot included (the restart test covers the events
/// through the database; a snapshot is taken only every history.snapshot-every events).</summary>
public sealed class SpoolRecordTests() : TestKit("akka.loglevel = WARNING")
{
    private static readonly FileKept Kept = new("f3k9a1b2c3", new string('a', 64), 3_000_000, 638000000000000000, "report.pdf", "alice",
        "0102030405060708090a0b0c0d0e0f10", 1_700_000_000_000, 1_700_600_000_000,
        [new SpoolRecipient("bob", "11111111111111111111111111111111"), new SpoolRecipient("Carol", "22222222222222222222222222222222")], [new SharedRoom("#team", 1_699_000_000_000)]);

    private object RoundTrip(object stored)
    {
        var serializer = new StoredEventSerializer((ExtendedActorSystem)Sys);
        return serializer.FromBinary(serializer.ToBinary(stored), serializer.Manifest(stored));
    }

    [Fact]
    public void Each_spool_record_reads_back_as_written()
    {
        var kept = Assert.IsType<FileKept>(RoundTrip(Kept));
        Assert.Equal(Kept with { Recipients = kept.Recipients, Rooms = kept.Rooms }, kept);
        Assert.Equal(Kept.Recipients, kept.Recipients);
        Assert.Equal(Kept.Rooms, kept.Rooms);
        Assert.Equal(new FileSettled("f3k9a1b2c3", "1111", 5, "refused by bob: the receiver declined", 42),
            RoundTrip(new FileSettled("f3k9a1b2c3", "1111", 5, "refused by bob: the receiver declined", 42)));
        Assert.Equal(new FileDropped("f3k9a1b2c3", "expired"), RoundTrip(new FileDropped("f3k9a1b2c3", "expired")));
        var snapshot = Assert.IsType<SpoolSnapshot>(RoundTrip(new SpoolSnapshot([new KeptFileState(Kept, [(4, ""), (1, "offline")])])));
        var file = Assert.Single(snapshot.Files);
        Assert.Equal(Kept.FileId, file.Kept.FileId);
        Assert.Equal(Kept.Recipients, file.Kept.Recipients);
        Assert.Equal([((byte)4, ""), ((byte)1, "offline")], file.Recipients);
    }
}
