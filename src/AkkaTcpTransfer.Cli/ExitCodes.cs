namespace AkkaTcpTransfer.Cli;

/// <summary>The program's exit codes: part of its contract (README, "Command line").</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The node stopped for a reason not covered below (an internal failure).</summary>
    public const int Failure = 1;
    /// <summary>Bad arguments or configuration.</summary>
    public const int BadArguments = 2;
    /// <summary>Cannot bind, cannot connect, or refused by the server.</summary>
    public const int CannotStart = 3;
    /// <summary>A client whose input ended had outgoing transfers, and at least one failed; or the person quit with
    /// outgoing transfers unfinished or chat lines not yet sent.</summary>
    public const int TransferFailed = 4;
}
