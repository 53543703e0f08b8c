namespace ExperimentGrid.Grains;

/// <summary>
/// The provider names grains persist through. A silo registers its store under these names whichever store it uses
/// (PostgreSQL or the embedded files), so a grain's <c>[PersistentState(..., StorageNames.Grid)]</c> never changes.
/// </summary>
public static class StorageNames
{
    /// <summary>Sweep, trial and leaderboard state.</summary>
    public const string Grid = "grid";
}
