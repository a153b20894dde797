-- Makes Orthanc answer only hierarchical Study Root queries, as a strict PACS does
-- (PS3.4 C.4.1.2.1): below the study level, the study is named by one Study Instance
-- UID and no patient or study key is given. Anything else fails the C-FIND (0xC000).

local ABOVE_SERIES = {
  ["0010,0010"] = "PatientName",
  ["0010,0020"] = "PatientID",
  ["0008,0020"] = "StudyDate",
  ["0008,0050"] = "AccessionNumber",
  ["0008,0061"] = "ModalitiesInStudy",
  ["0008,1030"] = "StudyDescription",
}

function IncomingFindRequestFilter(query, origin)
  local level = query["0008,0052"]
  if level == "SERIES" or level == "IMAGE" then
    local uid = query["0020,000d"] or ""
    if uid == "" or string.find(uid, "[*?\\]") then
      error(level .. " query without one Study Instance UID: " .. uid)
    end
    for tag, name in pairs(ABOVE_SERIES) do
      if query[tag] ~= nil then
        error(level .. " query with the study key " .. name)
      end
    end
  end
  return query
end
