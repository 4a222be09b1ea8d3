using System.Runtime.InteropServices;
using Akka.Actor;

namespace AkkaTcpTransfer.Tcp;

/// <summary>File descriptors, which a process that runs out of dies rather than fails politely (the runtime aborts when
/// it cannot get one). Client connections and open transfer files each take one; the node admits new ones only while
/// <c>server.descriptor-reserve</c> stay free for everything else, and connections only while a quarter of the rest is
/// left for files. At start the soft limit is raised to the hard one (as the Go runtime does), so the limit is the
/// operator's hard limit.</summary>
internal sealed class DescriptorBudget : IExtension
{
    private long _inUse;

    /// <summary>Descriptors this node may hand out to connections and files (the soft limit, less those open at start
    /// and the reserve); long.MaxValue where the limit cannot be read.</summary>
    public long Capacity { get; private set; } = long.MaxValue;

    /// <summary>The process's descriptor limit as read at start (0 if unknown).</summary>
    public long ProcessLimit { get; private set; }

    public long InUse => Volatile.Read(ref _inUse);

    /// <summary>Connections are admitted only below this, leaving a quarter of the capacity for files.</summary>
    public long ConnectionCapacity => Capacity == long.MaxValue ? long.MaxValue : Capacity * 3 / 4;

    public static DescriptorBudget Get(ActorSystem system) => system.WithExtension<DescriptorBudget, DescriptorBudgetProvider>();

    /// <summary>Reads (and raises) the process limit once; later calls keep the first figures.</summary>
    public void Initialise(int reserve)
    {
        if (ProcessLimit != 0) return;
        var limit = RaiseLimit();
        if (limit <= 0) return;
        ProcessLimit = limit;
        // The reserve, but never more than a quarter of what is left: a low limit still admits some clients.
        var open = OpenNow();
        Capacity = Math.Max(0, limit - open - Math.Min(reserve, Math.Max(0, limit - open) / 4));
    }

    public bool TryAcquireConnection() => TryAcquire(ConnectionCapacity);

    public bool TryAcquireFile() => TryAcquire(Capacity);

    public void Release() => Interlocked.Decrement(ref _inUse);

    /// <summary>Takes one even beyond the capacity (the reserve absorbs it): for a connection admitted in place of one
    /// that is being closed.</summary>
    public void ForceAcquire() => Interlocked.Increment(ref _inUse);

    private bool TryAcquire(long capacity)
    {
        if (Interlocked.Increment(ref _inUse) <= capacity) return true;
        Interlocked.Decrement(ref _inUse);
        return false;
    }

    private static long OpenNow()
    {
        try
        {
            return OperatingSystem.IsLinux() ? Directory.GetFiles("/proc/self/fd").Length : 64;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 64;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    private const int RlimitNofileLinux = 7;
    private const int RlimitNofileBsd = 8;

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRLimit(int resource, out RLimit limit);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRLimit(int resource, ref RLimit limit);

    /// <summary>Raises the soft descriptor limit to the hard one and returns it; -1 where there is no such limit
    /// (Windows) or it cannot be read.</summary>
    private static long RaiseLimit()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return -1;
        var resource = OperatingSystem.IsLinux() ? RlimitNofileLinux : RlimitNofileBsd;
        try
        {
            if (GetRLimit(resource, out var limit) != 0) return -1;
            // macOS refuses a soft limit above OPEN_MAX (10240) when the hard limit is "unlimited".
            var wanted = OperatingSystem.IsMacOS() ? Math.Min(limit.Maximum, 10240UL) : limit.Maximum;
            if (limit.Current < wanted)
            {
                var raised = limit with { Current = wanted };
                if (SetRLimit(resource, ref raised) == 0) limit = raised;
            }
            return limit.Current > long.MaxValue ? long.MaxValue : (long)limit.Current;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return -1;
        }
    }

    public sealed class DescriptorBudgetProvider : ExtensionIdProvider<DescriptorBudget>
    {
        public override DescriptorBudget CreateExtension(ExtendedActorSystem system) => new();
    }
}
